from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import fakeredis
import pytest
from fastapi.testclient import TestClient
from rq import Queue

from services.engine.model import ModelInfo
from services.gateway.app import create_app
from services.inference.context import InferenceContext
from services.inference.worker import InferenceWorker
from shared import keys
from shared.schemas import ChatMessage
from shared.settings import Settings
from tests.support.fake_engine import ScriptedEngine


class WordCounter:
    """Counts one token per whitespace-separated word, plus a fixed template overhead."""

    n_ctx = 64
    model_name = "fake"

    def count(self, messages: Sequence[ChatMessage]) -> int:
        return 4 + sum(len(m.content.split()) for m in messages)


class Harness:
    def __init__(self, tmp_path: Path) -> None:
        self.server = fakeredis.FakeServer()
        self.redis = fakeredis.FakeRedis(server=self.server)
        self.settings = Settings(redis_url="redis://fake", default_max_tokens=32, data_dir=tmp_path)
        self.app = create_app(
            self.settings,
            redis=fakeredis.FakeAsyncRedis(server=self.server),
            sync_redis=self.redis,
            counter=WordCounter(),
        )

    def run_worker(self, engine: ScriptedEngine) -> None:
        """Serve every queued inference job with the scripted engine, then every check job."""
        context = InferenceContext(
            redis=self.redis,
            engine=engine,
            model=ModelInfo(name="fake", path=Path("fake.gguf"), n_ctx=64, n_ctx_train=64),
            settings=self.settings,
            worker_id="test-worker",
            postproc_queue=Queue(keys.POSTPROC_QUEUE, connection=self.redis),
        )
        queue = Queue(keys.INFERENCE_QUEUE, connection=self.redis)
        InferenceWorker([queue], connection=self.redis, context=context).work(burst=True)
        from rq import SimpleWorker

        SimpleWorker([context.postproc_queue], connection=self.redis).work(burst=True)

    def mark_worker_alive(self) -> None:
        import time

        self.redis.zadd(keys.live_workers_key("inference"), {"w1": time.time()})


@pytest.fixture
def make_harness(tmp_path: Path) -> Callable[[], Harness]:
    return lambda: Harness(tmp_path)


@pytest.fixture
def harness(make_harness: Callable[[], Harness]) -> Harness:
    return make_harness()


@pytest.fixture
def client(harness: Harness) -> Iterator[TestClient]:
    with TestClient(harness.app) as test_client:
        yield test_client
