"""Queue updates: a waiting job's stream hears its place and expected start when they change."""

from __future__ import annotations

import time
from pathlib import Path

import fakeredis
import pytest

from services.gateway.queue_updates import QueueUpdates
from services.store.jobs import JobStore
from services.store.queues import Origin
from services.store.records import NewJob
from services.store.scheduler import Priority
from shared import keys
from shared.schemas import ChatMessage, GenerationParams, JobSpec, QueuedEvent, parse_event
from shared.settings import Settings

POOL = "m"


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    settings = Settings(redis_url="redis://fake", data_dir=tmp_path, model_name=POOL, queue_update_interval_s=0.01)
    return JobStore(fakeredis.FakeRedis(), settings)


def submit(store: JobStore, job_id: str, *, max_tokens: int = 100, priority: Priority = Priority.NORMAL) -> None:
    spec = JobSpec(
        job_id=job_id,
        messages=[ChatMessage(role="user", content="What is 2 + 2?")],
        params=GenerationParams(),
        prompt_tokens=9,
        max_tokens=max_tokens,
        max_reasoning_tokens=16,
        created_at=time.time(),
    )
    store.submit([NewJob(spec)], owner=None, origin=Origin.INTERACTIVE, pool=POOL, priority=priority)


def add_worker(store: JobStore, worker_id: str, *, tokens_per_s: float | None = 50.0) -> None:
    redis = store.redis
    redis.zadd(keys.live_workers_key("inference"), {worker_id: time.time()})
    redis.hset(keys.worker_key(worker_id), mapping={"model": POOL})
    if tokens_per_s is not None:
        redis.hset(
            keys.worker_stats_key(worker_id),
            mapping={"jobs": 4, "generated_tokens": int(tokens_per_s * 10), "busy_seconds": 10.0},
        )


def start_next(store: JobStore, worker_id: str) -> str:
    picked = store.scheduler.pick(POOL)
    assert picked is not None
    job_id = picked[1]
    assert store.start(job_id, 1, worker_id).outcome == "started"
    return job_id


def updates(store: JobStore, job_id: str) -> list[QueuedEvent]:
    events = [parse_event(raw) for raw in store.redis.lrange(keys.job_events_key(job_id), 1, -1)]
    return [event for event in events if isinstance(event, QueuedEvent)]


def tick(store: JobStore) -> int:
    time.sleep(0.02)  # past the least interval between two updates of one job
    return QueueUpdates(store, store.settings, lambda: [POOL]).tick()


def test_queue_updates_positions_fall_as_workers_take_jobs(store: JobStore) -> None:
    add_worker(store, "w1")
    for name in ("running", "a", "b", "c"):
        submit(store, name)
    start_next(store, "w1")
    assert tick(store) == 3, "each waiting job hears its place and expected start once"
    first = updates(store, "c")
    assert [e.position for e in first] == [2]
    assert first[0].eta_s is not None and first[0].eta_s > 0
    assert tick(store) == 0, "nothing changed: nothing is sent"
    start_next(store, "w1")  # the worker took "a"
    tick(store)
    start_next(store, "w1")
    tick(store)
    assert [e.position for e in updates(store, "c")] == [2, 1, 0]
    etas = [e.eta_s for e in updates(store, "c")]
    assert all(eta is not None for eta in etas)


def test_queue_updates_eta_follows_the_budgets_ahead(store: JobStore) -> None:
    """At 50 tokens/s, with every job using all its budget (nothing measured yet), a job behind
    a 500-token job and a 100-token one starts about 12 s out, plus the running job's rest."""
    add_worker(store, "w1")
    submit(store, "running", max_tokens=100)
    submit(store, "big", max_tokens=500)
    submit(store, "small", max_tokens=100)
    submit(store, "mine", max_tokens=10)
    start_next(store, "w1")
    tick(store)
    (update,) = updates(store, "mine")
    assert update.position == 2
    assert update.eta_s is not None and 13.0 <= update.eta_s <= 14.1


def test_queue_updates_high_priority_moves_a_job_back(store: JobStore) -> None:
    add_worker(store, "w1")
    submit(store, "running")
    submit(store, "a")
    start_next(store, "w1")
    tick(store)
    submit(store, "urgent", priority=Priority.HIGH)
    tick(store)
    # Accepted behind "running"; next once it started; then behind "urgent".
    assert [e.position for e in updates(store, "a")] == [0, 1]
    assert [e.position for e in updates(store, "urgent")] == [0]  # accepted behind "a", then ahead of it


def test_queue_updates_without_a_measured_pace_send_places_only(store: JobStore) -> None:
    add_worker(store, "w1", tokens_per_s=None)
    submit(store, "a", priority=Priority.LOW)
    submit(store, "b", priority=Priority.HIGH)
    tick(store)
    (update,) = updates(store, "a")
    assert (update.position, update.eta_s) == (1, None)


def test_queue_updates_a_worker_with_slots_takes_that_many_at_once(store: JobStore) -> None:
    """A worker with 4 slots (continuous batching) runs 4 jobs at once: with 2 running, the next
    2 waiting start now, and the fifth waits for a slot, not for four jobs."""
    add_worker(store, "w1")
    store.redis.hset(keys.worker_key("w1"), "slots", 4)
    for name in ("r1", "r2", "a", "b", "c"):
        submit(store, name, max_tokens=100)
    start_next(store, "w1")
    start_next(store, "w1")
    tick(store)
    (a,), (b,), (c,) = updates(store, "a"), updates(store, "b"), updates(store, "c")
    assert (a.position, b.position, c.position) == (0, 1, 2)
    assert a.eta_s is not None and b.eta_s is not None and a.eta_s < 0.5 and b.eta_s < 0.5
    # The fifth job's slot comes free when the first running job ends: 100 tokens at 50/s.
    assert c.eta_s is not None and 1.5 <= c.eta_s <= 2.1
