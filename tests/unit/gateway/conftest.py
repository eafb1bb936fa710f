from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import fakeredis
import pytest
from fastapi.testclient import TestClient

from services.engine.families import ToolCallSyntax
from services.engine.model import ModelInfo
from services.gateway.app import create_app
from services.gateway.drain import Drain
from services.gateway.tokens import PromptCounter
from services.inference.context import InferenceContext
from services.inference.worker import InferenceWorker
from services.postproc.context import PostprocContext
from services.postproc.worker import PostprocWorker
from services.runtime.load import LoadMeter
from services.store.jobs import JobStore
from services.store.queues import rq_queue
from services.store.scheduler import Scheduler, pool_queue_class
from services.store.tasks import SERIALIZER, TaskJob
from shared import keys
from shared.models import WorkerModel
from shared.schemas import ChatMessage
from shared.settings import Settings
from tests.support.fake_engine import ScriptedEngine


class WordCounter:
    """Counts one token per whitespace-separated word, plus a fixed template overhead."""

    n_ctx = 64
    model_name = "fake"
    tool_calls: ToolCallSyntax | None = None
    soft_switches: tuple[str, str] | None = None

    def count(self, messages: Sequence[ChatMessage]) -> int:
        return 4 + sum(len(m.content.split()) for m in messages)


class Harness:
    def __init__(self, tmp_path: Path, counter: PromptCounter | None = None, **settings: Any) -> None:
        """`settings` override the test defaults (API keys, limits); `counter` the word counter."""
        self.server = fakeredis.FakeServer()
        self.redis = fakeredis.FakeRedis(server=self.server)
        self.settings = Settings(
            **{
                "redis_url": "redis://fake",
                "default_max_tokens": 32,
                "data_dir": tmp_path,
                # TestClient names its server "testserver"
                "allowed_hosts": ["testserver", "localhost", "127.0.0.1"],
                **settings,
            }
        )
        self.drain = Drain()
        self.app = create_app(
            self.settings,
            redis=fakeredis.FakeAsyncRedis(server=self.server),
            sync_redis=self.redis,
            counter=counter or WordCounter(),
            drain=self.drain,
        )

    def run_worker(
        self, engine: ScriptedEngine, pool: str | None = None, n_ctx: int = 64, load: LoadMeter | None = None
    ) -> None:
        """Serve every queued inference job of model `pool` (default: the default model) with
        the scripted engine, then every check job. `n_ctx`: the worker's context size (the
        scripted engine's prompts and the worker's own text are a token per character); `load`:
        the worker's load meter."""
        store = JobStore(self.redis, self.settings)
        context = InferenceContext(
            redis=self.redis,
            engine=engine,
            model=ModelInfo(name="fake", path=Path("fake.gguf"), n_ctx=n_ctx, n_ctx_train=n_ctx),
            settings=self.settings,
            worker_id="test-worker",
            store=store,
            load=load or LoadMeter(window_s=5),
        )
        pool_class = pool_queue_class(store.scheduler)
        queues = [rq_queue(keys.pool_queue(pool or self.pool), self.redis, cls=pool_class)]
        options = {"connection": self.redis, "job_class": TaskJob, "serializer": SERIALIZER}
        checks = PostprocContext(store=store, settings=self.settings)
        # Inference, then checks, until both are idle: a failed check may queue a revision.
        while True:
            inferred = InferenceWorker(queues, context=context, queue_class=pool_class, **options).work(burst=True)
            checked = PostprocWorker([rq_queue(keys.POSTPROC_QUEUE, self.redis)], context=checks, **options).work(
                burst=True
            )
            if not (inferred or checked):
                break

    @property
    def pool(self) -> str:
        """The model whose queues the gateway fills and the workers serve."""
        return self.settings.served_model_name

    def waiting(self, priority: str | None = None) -> int:
        """Jobs waiting for a worker (of one priority, or of all)."""
        counts = Scheduler(self.redis, self.settings).waiting(self.pool)
        return sum(n for p, n in counts.items() if priority is None or p.value == priority)

    def waiting_ids(self, priority: str = "normal") -> list[str]:
        return [raw.decode() for raw in self.redis.zrange(keys.priority_waiting_key(self.pool, priority), 0, -1)]

    def declare_worker(self, worker_id: str, model: str, adapters: Sequence[str] = (), adapter: str = "") -> None:
        """A live inference worker of `model`, declared as a real worker declares itself."""
        import time

        declaration = WorkerModel(name=model, file=f"/models/{model}.gguf", n_ctx=64, adapters=list(adapters))
        self.redis.zadd(keys.live_workers_key("inference"), {worker_id: time.time()})
        self.redis.hset(
            keys.worker_key(worker_id),
            mapping={"model": model, "declaration": declaration.model_dump_json(), "adapter": adapter},
        )
        self.redis.hset(keys.rq_worker_key(worker_id), "state", "idle")

    def mark_worker_alive(self) -> None:
        """An inference worker and a checker with fresh heartbeats."""
        import time

        self.redis.zadd(keys.live_workers_key("inference"), {"w1": time.time()})
        self.redis.zadd(keys.live_workers_key("postproc"), {"c1": time.time()})


@pytest.fixture
def make_harness(tmp_path: Path) -> Callable[..., Harness]:
    return lambda counter=None, **settings: Harness(tmp_path, counter, **settings)


@pytest.fixture
def harness(make_harness: Callable[..., Harness]) -> Harness:
    return make_harness()


@pytest.fixture
def client(harness: Harness) -> Iterator[TestClient]:
    with TestClient(harness.app) as test_client:
        yield test_client
