"""The event plane on a Redis of its own: a job's records stay together on one cluster slot, never
on the queue Redis, and a writer that dies between the two planes loses no job (the sweeper's
`finish_requeues` completes what it left)."""

from __future__ import annotations

import time
from collections.abc import Callable

import fakeredis
import pytest
from redis.crc import key_slot

from services.store.jobs import JobStore
from services.store.queues import Origin
from services.store.records import NewJob, PendingRequeue
from shared import keys
from shared.eventlog import stamp
from shared.schemas import DoneEvent, Finding, InferenceResult, JobStatus, Timings, Usage
from tests.unit.store.conftest import POOL, make_spec, queued

StoreFactory = Callable[..., JobStore]


@pytest.fixture
def events() -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis()


class Died(Exception):
    """The process stopped here."""


def die(*args: object, **kwargs: object) -> None:
    raise Died


def result() -> InferenceResult:
    return InferenceResult(finish_reason="stop", reasoning_end="model", usage=Usage(), timings=Timings())


def submit(store: JobStore, job_id: str, **fields: object) -> None:
    store.submit([NewJob(make_spec(job_id, **fields))], owner=None, origin=Origin.INTERACTIVE, pool=POOL)


def test_planes_keys_of_one_job_share_a_cluster_slot_and_other_jobs_spread() -> None:
    job_id = "0f" * 16
    names = [
        keys.job_key(job_id),
        keys.job_events_key(job_id),
        keys.job_events_channel(job_id),
        keys.job_cancel_key(job_id),
        keys.job_control_key(job_id),
    ]
    assert all(keys.job_tag(job_id) in name for name in names)
    assert len({key_slot(name.encode()) for name in names}) == 1
    slots = {key_slot(keys.job_events_key(f"{n:032x}").encode()) for n in range(200)}
    assert len(slots) > 150, "jobs must spread over the slots, not share one"


def test_planes_a_job_lives_on_the_event_plane_and_its_queueing_on_the_queue_plane(
    make_store: StoreFactory, redis: fakeredis.FakeRedis, events: fakeredis.FakeRedis
) -> None:
    store = make_store()
    submit(store, "j1", revise=1)
    assert store.start("j1", 1, "w1").outcome == "started"
    store.writer("j1", 1).emit(None, status="running")
    assert store.generated("j1", 1, "w1", result())
    spec = make_spec("j1", revise=1)
    finding = Finding(check="c", severity="error", message="m")
    assert store.revise("j1", 1, spec.model_copy(update={"round": 1}), spec, [finding])
    assert store.start("j1", 2, "w1").outcome == "started"
    assert store.generated("j1", 2, "w1", result())
    assert store.end("j1", stamp(DoneEvent, result=result()), JobStatus.SUCCEEDED, run=2)
    assert {name.decode() for name in events.scan_iter()} == {keys.job_key("j1"), keys.job_events_key("j1")}
    assert not [name for name in redis.scan_iter() if b"{" in name], "no job record on the queue plane"
    assert not redis.hlen(keys.PENDING_REQUEUES) and not redis.hlen(keys.RUNNING_JOBS)


def test_planes_a_worker_that_dies_after_taking_the_job_before_starting_it_is_claimed(
    make_store: StoreFactory, redis: fakeredis.FakeRedis
) -> None:
    store = make_store()
    submit(store, "j")
    store._start_events = die  # type: ignore[method-assign]
    with pytest.raises(Died):
        store.start("j", 1, "w1")
    assert redis.hget(keys.RUNNING_JOBS, "j") == b"w1", "the entry the sweeper claims by"
    store = make_store()
    assert store.claim("j", "w1", "died") == "retried"
    assert "j-2" in queued(redis)
    assert store.start("j", 2, "w2").outcome == "started"


def test_planes_a_duplicate_delivery_never_takes_the_job_from_its_worker(
    make_store: StoreFactory, redis: fakeredis.FakeRedis
) -> None:
    store = make_store()
    submit(store, "j")
    assert store.start("j", 1, "w1").outcome == "started"
    assert store.start("j", 1, "w2").outcome == "stale"
    assert redis.hget(keys.RUNNING_JOBS, "j") == b"w1"


@pytest.mark.parametrize("dies_in", ["_claim_events", "_queue_pending"])
def test_planes_a_claim_cut_between_the_planes_is_finished_by_the_sweeper(
    make_store: StoreFactory, redis: fakeredis.FakeRedis, dies_in: str
) -> None:
    store = make_store()
    submit(store, "j")
    assert store.start("j", 1, "w1").outcome == "started"
    setattr(store, dies_in, die)
    with pytest.raises(Died):
        store.claim("j", "w1", "worker w1 stopped responding")
    assert redis.hget(keys.RUNNING_JOBS, "j") is None and "j-2" not in queued(redis)

    sweeper = make_store()
    assert sweeper.finish_requeues(older_than_s=60) == [], "a note younger than a worker's TTL is left to its writer"
    assert sweeper.finish_requeues(older_than_s=0) == ["j"]
    assert "j-2" in queued(redis) and not redis.hlen(keys.PENDING_REQUEUES)
    record = sweeper.read("j")
    assert (record.run, record.attempt, record.status) == (2, 2, JobStatus.QUEUED)
    assert sweeper.start("j", 2, "w2").outcome == "started"
    assert sweeper.finish_requeues(older_than_s=0) == []


def test_planes_a_revision_cut_between_the_planes_is_finished_and_one_that_never_landed_dropped(
    make_store: StoreFactory, redis: fakeredis.FakeRedis
) -> None:
    store = make_store()
    spec = make_spec("j", revise=1)
    store.submit([NewJob(spec)], owner=None, origin=Origin.INTERACTIVE, pool=POOL)
    assert store.start("j", 1, "w1").outcome == "started"
    assert store.generated("j", 1, "w1", result())
    store._queue_pending = die  # type: ignore[method-assign]
    with pytest.raises(Died):
        store.revise("j", 1, spec.model_copy(update={"round": 1}), spec, [])
    assert make_store().finish_requeues(older_than_s=0) == ["j"]
    assert queued(redis)[0] == "j-2"

    # A note whose transition never happened (its writer died before the record moved).
    submit(store, "k")
    redis.hset(keys.PENDING_REQUEUES, "k", PendingRequeue(2, "revise", time.time() - 60).dump())
    assert make_store().finish_requeues(older_than_s=0) == []
    assert not redis.hexists(keys.PENDING_REQUEUES, "k") and "k-2" not in queued(redis)
    assert make_store().read("k").run == 1
