"""The Redis memory budget the gateway keeps: past it, nothing new is stored.

Redis runs `noeviction`, so when it is full every write fails, the running jobs' events among
them. The gateway reads `used_memory` once a second, in the background (`run`; a request reads
it itself only when that reading is older than three seconds), and refuses new jobs, files and
batches while it is past `redis_memory_budget_mb`, well before Redis itself is full.
"""

from __future__ import annotations

import logging
import time

from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import ResponseError

from services.gateway.periodic import every
from services.store.exceptions import StorageFull
from shared.settings import Settings

log = logging.getLogger(__name__)

READ_EVERY_S = 1.0
STALE_AFTER_S = 3 * READ_EVERY_S
"""A reading this old is read again by the request that needs it (the background task stalled)."""


class MemoryBudget:
    def __init__(self, redis: AsyncRedis, settings: Settings) -> None:
        self._redis = redis
        self._budget_bytes = settings.redis_memory_budget_mb << 20
        self._used_bytes = 0
        self._read_at = float("-inf")
        self._measurable = True

    async def run(self) -> None:
        """Read `used_memory` every `READ_EVERY_S` (a background task of the gateway), so that
        requests do not wait for INFO."""
        await every(READ_EVERY_S, self._read, "Redis's memory use")

    async def used_bytes(self) -> int:
        """Redis's `used_memory`; 0 when the server does not say (a Redis-compatible server
        without INFO: the budget is then not enforced, and that is logged once)."""
        if time.monotonic() - self._read_at >= STALE_AFTER_S:
            await self._read()
        return self._used_bytes

    async def _read(self) -> None:
        self._read_at = time.monotonic()
        try:
            info = await self._redis.info("memory")
        except ResponseError as exc:
            if self._measurable:
                log.warning("Redis does not report its memory (%s): the memory budget is not enforced", exc)
            self._measurable = False
            self._used_bytes = 0
            return
        self._used_bytes = int(info.get("used_memory", 0))

    async def check(self) -> None:
        used = await self.used_bytes()
        if used > self._budget_bytes:
            raise StorageFull(
                f"the service's storage is nearly full ({used >> 20} MiB of a {self._budget_bytes >> 20} MiB "
                "budget, THINKSTREAM_REDIS_MEMORY_BUDGET_MB): running jobs finish, new ones wait; try again shortly"
            )
