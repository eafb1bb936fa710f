"""The model this deployment serves, and the live workers that serve it."""

from __future__ import annotations

import time

from redis.asyncio import Redis as AsyncRedis

from services.gateway.exceptions import ModelNotFound
from services.runtime.heartbeat import INFERENCE, live_workers_async
from shared import keys
from shared.chat_api import ModelCard
from shared.settings import Settings


class ModelDirectory:
    """One deployment serves one model (every worker loads the same GGUF); clients may name it by
    its served name or by one of `model_aliases` (e.g. "deepseek-reasoner" for tools written
    against DeepSeek's API)."""

    def __init__(self, settings: Settings, redis: AsyncRedis, n_ctx: int) -> None:
        self._settings = settings
        self._redis = redis
        self._n_ctx = n_ctx
        self._created = int(time.time())
        self.name = settings.served_model_name

    async def models(self) -> list[ModelCard]:
        names = [self.name, *(alias for alias in self._settings.model_aliases if alias != self.name)]
        workers = await self._live_workers()
        return [ModelCard(id=name, created=self._created, workers=workers, n_ctx=self._n_ctx) for name in names]

    def resolve(self, requested: str | None) -> str:
        """The served name for a request's `model` (omitted: the served model)."""
        if requested is None or requested == self.name or requested in self._settings.model_aliases:
            return requested or self.name
        raise ModelNotFound(requested, self.name)

    async def _live_workers(self) -> int:
        """Live inference workers loaded with this model."""
        worker_ids = await live_workers_async(self._redis, INFERENCE, self._settings.worker_ttl_s)
        if not worker_ids:
            return 0
        async with self._redis.pipeline(transaction=False) as pipe:
            for worker_id in worker_ids:
                pipe.hget(keys.worker_key(worker_id), "model")
            models = await pipe.execute()
        return sum(1 for model in models if model is not None and model.decode() == self.name)
