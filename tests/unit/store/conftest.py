from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fakeredis
import pytest

from services.store.jobs import JobStore
from shared.schemas import ChatMessage, GenerationParams, JobSpec
from shared.settings import Settings


@pytest.fixture
def redis() -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis()


@pytest.fixture(params=["one-redis", "own-event-plane"])
def events(request: pytest.FixtureRequest, redis: fakeredis.FakeRedis) -> fakeredis.FakeRedis | None:
    """Every store test runs twice: with the event plane on the queues' Redis (the default), and
    on a Redis of its own (`events_redis_url`), where no step may reach the other plane's keys."""
    return None if request.param == "one-redis" else fakeredis.FakeRedis()


@pytest.fixture
def make_store(
    redis: fakeredis.FakeRedis, events: fakeredis.FakeRedis | None, tmp_path: Path
) -> Callable[..., JobStore]:
    """A job store over fakeredis; keyword arguments override settings."""

    def make(**overrides: Any) -> JobStore:
        if events is not None:
            overrides.setdefault("events_redis_url", "redis://fake-events")
        settings = Settings(redis_url="redis://fake", data_dir=tmp_path, **overrides)
        return JobStore(redis, settings, events=events)

    return make


def make_spec(job_id: str, *, age_s: float = 0.0, **fields: Any) -> JobSpec:
    """A one-question job accepted `age_s` seconds ago."""
    return JobSpec(
        job_id=job_id,
        messages=[ChatMessage(role="user", content="What is 2 + 2?")],
        params=GenerationParams(),
        prompt_tokens=9,
        max_tokens=32,
        max_reasoning_tokens=16,
        created_at=time.time() - age_s,
        **fields,
    )


POOL = "m"
"""The model whose pool the tests' jobs go to."""


def queued(redis: fakeredis.FakeRedis, priority: str = "normal", owner: str | None = None) -> list[str]:
    """The RQ ids waiting in one owner's queue of the pool, front first."""
    from services.store.queues import rq_queue
    from shared import keys

    return rq_queue(keys.owner_queue(POOL, priority, owner), redis).get_job_ids()


def take(store: JobStore) -> str:
    """What a worker of the pool takes next (its RQ id)."""
    picked = store.scheduler.pick(POOL)
    assert picked is not None, "nothing waits"
    return picked[1]
