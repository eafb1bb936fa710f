"""Jobs of a dead worker are retried once each, fenced from the old worker, and given up on."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import fakeredis
import pytest

from services.runtime.sweeper import Sweeper
from services.store.jobs import JobStore
from services.store.queues import Origin, rq_queue
from services.store.records import NewJob, PendingRequeue
from services.store.scheduler import Priority
from shared import keys
from shared.eventlog import EventWriter, stamp
from shared.schemas import JobSpec, ReasoningEvent
from shared.settings import Settings
from tests.unit.store.conftest import POOL, make_spec, queued


@pytest.fixture
def redis() -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis()


def settings(tmp_path: Path, **overrides: object) -> Settings:
    return Settings(redis_url="redis://fake", data_dir=tmp_path, worker_ttl_s=5, **overrides)


spec = make_spec


def running_job(
    redis: fakeredis.FakeRedis,
    job_id: str,
    worker: str,
    last_beat: float,
    job_spec: JobSpec | None = None,
    *,
    origin: Origin = Origin.INTERACTIVE,
    tmp_path: Path,
) -> EventWriter:
    """A job submitted through the store and started by `worker`, which has written a little."""
    store = JobStore(redis, settings(tmp_path))
    priority = Priority.LOW if origin is Origin.BATCH else Priority.NORMAL
    store.submit([NewJob(job_spec or spec(job_id))], owner=None, origin=origin, pool=POOL, priority=priority)
    store.scheduler.pick(POOL)  # the worker took it
    assert store.start(job_id, 1, worker).outcome == "started"
    redis.zadd(keys.live_workers_key("inference"), {worker: last_beat})
    writer = store.writer(job_id, 1)
    writer.emit(stamp(ReasoningEvent, text="half a thought", tokens=3))
    return writer


def events(redis: fakeredis.FakeRedis, job_id: str) -> list[dict[str, object]]:
    return [json.loads(raw) for raw in redis.lrange(keys.job_events_key(job_id), 0, -1)]


def test_dead_workers_job_is_retried_at_the_front_and_the_old_worker_is_fenced(
    redis: fakeredis.FakeRedis, tmp_path: Path
) -> None:
    old = running_job(redis, "job1", "dead-worker", time.time() - 60, tmp_path=tmp_path)
    running_job(redis, "job2", "live-worker", time.time(), tmp_path=tmp_path)
    store = JobStore(redis, settings(tmp_path))
    store.submit([NewJob(spec("waiting"))], owner=None, origin=Origin.INTERACTIVE, pool=POOL)
    # A conversation turn waits in the dead worker's own queue.
    store.submit(
        [NewJob(spec("affine"))],
        owner=None,
        origin=Origin.INTERACTIVE,
        pool=POOL,
        queue_name=keys.worker_queue("dead-worker"),
    )

    assert Sweeper(redis, settings(tmp_path)).sweep() == ["job1"]

    # The retry (run 2) goes first; the dead worker's own queue is handed to the pool.
    assert queued(redis) == ["affine", "job1-2", "waiting"]
    retry = events(redis, "job1")[-1]
    assert retry["type"] == "retry" and retry["attempt"] == 2 and "dead-worker" in retry["reason"]
    assert redis.hget(keys.job_key("job1"), "attempt") == b"2"
    assert redis.hget(keys.job_key("job1"), "status") == b"queued"
    assert redis.hget(keys.RUNNING_JOBS, "job2") == b"live-worker"  # a live worker's job is left alone
    assert redis.zscore(keys.live_workers_key("inference"), "dead-worker") is None
    # The dead worker comes back from a pause: its writes are refused and it learns why.
    assert old.emit(stamp(ReasoningEvent, text="more", tokens=1)) == 0 and old.superseded
    assert events(redis, "job1")[-1]["type"] == "retry"
    # A second sweep finds nothing left to do.
    assert Sweeper(redis, settings(tmp_path)).sweep() == []


def test_a_job_past_its_attempts_fails_with_a_clear_error(redis: fakeredis.FakeRedis, tmp_path: Path) -> None:
    running_job(redis, "job1", "dead-worker", time.time() - 60, tmp_path=tmp_path)
    redis.hset(keys.job_key("job1"), "attempt", 2)  # lost once already
    Sweeper(redis, settings(tmp_path, max_attempts=2)).sweep()
    last = events(redis, "job1")[-1]
    assert last["type"] == "error" and last["code"] == "worker_lost" and "MAX_ATTEMPTS=2" in last["message"]
    assert redis.hget(keys.job_key("job1"), "status") == b"failed"
    assert queued(redis) == []
    assert redis.hget(keys.RUNNING_JOBS, "job1") is None


def test_two_sweepers_requeue_a_job_once(redis: fakeredis.FakeRedis, tmp_path: Path) -> None:
    running_job(redis, "job1", "dead-worker", time.time() - 60, tmp_path=tmp_path)
    first, second = Sweeper(redis, settings(tmp_path)), Sweeper(redis, settings(tmp_path))
    assert first.sweep() + second.sweep() == ["job1"]
    assert queued(redis) == ["job1-2"]
    assert [e["type"] for e in events(redis, "job1")].count("retry") == 1


def test_a_batch_item_goes_back_to_the_front_of_the_batch_queue(redis: fakeredis.FakeRedis, tmp_path: Path) -> None:
    running_job(redis, "item1", "dead-worker", time.time() - 60, origin=Origin.BATCH, tmp_path=tmp_path)
    store = JobStore(redis, settings(tmp_path))
    store.submit([NewJob(spec("item2"))], owner=None, origin=Origin.BATCH, pool=POOL, priority=Priority.LOW)

    assert Sweeper(redis, settings(tmp_path)).sweep() == ["item1"]

    assert queued(redis, "low") == ["item1-2", "item2"]  # still low priority, still first of its kind
    assert queued(redis, "normal") == []


def test_a_lost_sample_past_its_attempts_lets_its_parent_vote_without_it(
    redis: fakeredis.FakeRedis, tmp_path: Path
) -> None:
    store = JobStore(redis, settings(tmp_path, max_attempts=2))
    store.submit([NewJob(spec("parent", samples=2), runs=False)], owner=None, origin=Origin.INTERACTIVE, pool=POOL)
    redis.hset(keys.job_key("parent"), "samples_reported", 1)  # the other sample is done
    sample = spec("parent-s1", parent="parent", sample_index=1)
    running_job(redis, "parent-s1", "dead-worker", time.time() - 60, sample, tmp_path=tmp_path)
    redis.hset(keys.job_key("parent-s1"), "attempt", 2)

    Sweeper(redis, settings(tmp_path, max_attempts=2)).sweep()

    report = events(redis, "parent")[-1]
    assert report["type"] == "sample" and report["index"] == 1 and report["verdict"] == "error"
    assert rq_queue(keys.POSTPROC_QUEUE, redis).get_job_ids() == ["parent-vote"]


def test_sweeper_finishes_a_claim_a_dead_sweeper_left_between_the_planes(
    redis: fakeredis.FakeRedis, tmp_path: Path
) -> None:
    events_plane = fakeredis.FakeRedis()
    split = settings(tmp_path, events_redis_url="redis://events")
    store = JobStore(redis, split, events_plane)
    store.submit([NewJob(spec("j"))], owner=None, origin=Origin.INTERACTIVE, pool=POOL)
    store.scheduler.pick(POOL)
    assert store.start("j", 1, "w1").outcome == "started"
    redis.zadd(keys.live_workers_key("inference"), {"w1": time.time() - 60})

    def died(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the sweeper's process stopped here")

    store._queue_pending = died  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        store.claim("j", "w1", "worker w1 stopped responding")  # the record moved; the queue entry is not there
    assert "j-2" not in queued(redis)
    note = PendingRequeue.load(redis.hget(keys.PENDING_REQUEUES, "j"))
    redis.hset(keys.PENDING_REQUEUES, "j", replace(note, at=note.at - 60).dump())  # older than a worker's TTL

    assert Sweeper(redis, split, events_plane).sweep() == ["j"]
    assert "j-2" in queued(redis) and not redis.hlen(keys.PENDING_REQUEUES)
    assert [e["type"] for e in events(events_plane, "j")][-1] == "retry"
