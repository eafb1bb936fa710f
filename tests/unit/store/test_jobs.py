"""The job store: one owner for a job's life. Each test names the lifecycle bug it guards."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import fakeredis
import pytest
from redis.client import Pipeline

from services.store.exceptions import KeyQueueFull, QueueFull
from services.store.jobs import JobStore, rq_id_of
from services.store.queues import Origin, rq_queue
from services.store.records import BatchLink, NewJob, SampleOutcome
from services.store.scheduler import Priority
from shared import keys
from shared.batch_api import BatchItem, BatchMarks, BatchRecord, ItemResult
from shared.eventlog import stamp
from shared.schemas import (
    DoneEvent,
    Finding,
    InferenceResult,
    JobAccepted,
    JobStatus,
    ReasoningEvent,
    Timings,
    Usage,
)
from tests.unit.store.conftest import POOL, make_spec, queued, take

StoreFactory = Callable[..., JobStore]


def events(redis: fakeredis.FakeRedis, job_id: str) -> list[dict[str, object]]:
    return [json.loads(raw) for raw in redis.lrange(keys.job_events_key(job_id), 0, -1)]


def result() -> InferenceResult:
    return InferenceResult(finish_reason="stop", reasoning_end="model", usage=Usage(), timings=Timings())


def test_store_status_changes_with_the_event_that_announces_it(make_store: StoreFactory) -> None:
    store = make_store()
    store.submit([NewJob(make_spec("j1"))], owner=None, origin=Origin.INTERACTIVE, pool=POOL)
    assert store.read("j1").status is JobStatus.QUEUED and events(store.events, "j1")[-1]["type"] == "queued"
    assert store.start("j1", 1, "w1").outcome == "started"
    assert store.read("j1").status is JobStatus.RUNNING and events(store.events, "j1")[-1]["type"] == "started"
    assert store.generated("j1", 1, "w1", result())
    assert store.read("j1").status is JobStatus.CHECKING
    assert rq_queue(keys.POSTPROC_QUEUE, store.redis).get_job_ids() == ["j1-check-1"]
    assert store.end("j1", stamp(DoneEvent, result=result()), JobStatus.SUCCEEDED, run=1)
    assert store.read("j1").status is JobStatus.SUCCEEDED and events(store.events, "j1")[-1]["type"] == "done"
    # Ended once: a second end changes nothing.
    assert not store.fail("j1", "late", "too late")
    assert store.read("j1").status is JobStatus.SUCCEEDED


def test_bug1_a_retry_waits_from_its_own_enqueue_not_the_first_acceptance(make_store: StoreFactory) -> None:
    store = make_store(max_queue_wait_s=60)
    # Accepted long ago, queued again a moment ago (a sweeper retry keeps `created_at`).
    store.submit([NewJob(make_spec("old", age_s=3600))], owner=None, origin=Origin.INTERACTIVE, pool=POOL)
    assert store.start("old", 1, "w1").outcome == "started"
    assert store.claim("old", "w1", "worker died") == "retried"
    start = store.start("old", 2, "w2")
    assert start.outcome == "started", "the retry was queued a moment ago: it must not time out"


def test_bug1_a_job_that_really_waited_too_long_fails_with_queue_timeout(make_store: StoreFactory) -> None:
    store = make_store(max_queue_wait_s=60)
    store.submit([NewJob(make_spec("slow"))], owner=None, origin=Origin.INTERACTIVE, pool=POOL)
    store.events.hset(keys.job_key("slow"), "enqueued_at", time.time() - 120)
    assert store.start("slow", 1, "w1").outcome == "expired"
    last = events(store.events, "slow")[-1]
    assert last["type"] == "error" and last["code"] == "queue_timeout"
    assert store.read("slow").status is JobStatus.FAILED


def test_bug2_a_revised_batch_item_goes_back_to_the_batch_queue(make_store: StoreFactory) -> None:
    store = make_store(max_queue_wait_s=60)
    spec = make_spec("item", age_s=7200, revise=1)
    store.submit([NewJob(spec)], owner=None, origin=Origin.BATCH, pool=POOL, priority=Priority.LOW)
    assert take(store) == "item"
    assert store.start("item", 1, "w1").outcome == "started"
    assert store.generated("item", 1, "w1", result())
    revised = spec.model_copy(update={"round": 1})
    assert store.revise("item", 1, revised, spec, [Finding(check="arithmetic", severity="error", message="2+2=5")])

    assert queued(store.redis, "low") == ["item-2"], "a batch revision stays behind people's questions"
    assert queued(store.redis, "normal") == []
    # A batch item waited two hours: its revision still runs (the queue-wait limit is for people).
    assert store.start("item", 2, "w1").outcome == "started"


def test_bug2_an_interactive_revision_goes_to_the_front_of_its_queue(make_store: StoreFactory) -> None:
    store = make_store()
    spec = make_spec("mine", revise=1)
    store.submit([NewJob(spec)], owner=None, origin=Origin.INTERACTIVE, pool=POOL)
    assert take(store) == "mine"
    store.submit([NewJob(make_spec("other"))], owner=None, origin=Origin.INTERACTIVE, pool=POOL)
    store.start("mine", 1, "w1")
    store.generated("mine", 1, "w1", result())
    store.revise("mine", 1, spec.model_copy(update={"round": 1}), spec, [])
    assert queued(store.redis) == ["mine-2", "other"]


def test_a_stale_or_duplicate_delivery_never_runs(make_store: StoreFactory) -> None:
    store = make_store()
    store.submit([NewJob(make_spec("j"))], owner=None, origin=Origin.INTERACTIVE, pool=POOL)
    assert store.start("j", 1, "w1").outcome == "started"
    assert store.start("j", 1, "w2").outcome == "stale", "the same run delivered twice runs once"
    store.claim("j", "w1", "died")
    assert store.start("j", 1, "w3").outcome == "stale", "run 1 was replaced by run 2"
    assert store.start("j", 2, "w3").outcome == "started"


def test_bug3_a_sample_that_fails_reports_to_its_parent(make_store: StoreFactory) -> None:
    store = make_store()
    parent = make_spec("p", samples=2)
    one, two = make_spec("s0", parent="p", sample_index=0), make_spec("s1", parent="p", sample_index=1)
    store.submit(
        [NewJob(parent, runs=False, children=["s0", "s1"]), NewJob(one), NewJob(two)],
        owner=None,
        origin=Origin.INTERACTIVE,
        pool=POOL,
    )
    store.end("s0", stamp(DoneEvent, result=result()), JobStatus.SUCCEEDED, sample=SampleOutcome("4", "4", "pass"))
    assert rq_queue(keys.POSTPROC_QUEUE, store.redis).count == 0
    # The other sample's checks raised: it fails, and still reports, so its parent votes.
    store.fail("s1", "check_failed", "checking the answer failed: boom")
    reports = [e for e in events(store.events, "p") if e["type"] == "sample"]
    assert [(r["index"], r["verdict"]) for r in reports] == [(0, "pass"), (1, "error")]
    assert rq_queue(keys.POSTPROC_QUEUE, store.redis).get_job_ids() == ["p-vote"]


def test_bug4_a_fan_out_that_does_not_fit_queues_nothing(make_store: StoreFactory) -> None:
    store = make_store(max_queued_jobs=4)
    store.submit([NewJob(make_spec(f"q{i}")) for i in range(2)], owner=None, origin=Origin.INTERACTIVE, pool=POOL)
    parent = make_spec("p", samples=3)
    children = [make_spec(f"s{i}", parent="p", sample_index=i) for i in range(3)]
    with pytest.raises(QueueFull) as refused:
        store.submit(
            [NewJob(parent, runs=False, children=[c.job_id for c in children]), *(NewJob(c) for c in children)],
            owner=None,
            origin=Origin.INTERACTIVE,
            pool=POOL,
        )
    assert refused.value.wanted == 3 and refused.value.waiting == 2
    assert not store.redis.exists(keys.job_key("p")) and not any(
        store.redis.exists(keys.job_key(c.job_id)) for c in children
    )
    assert queued(store.redis) == ["q0", "q1"]
    assert store.admission.waiting(Origin.INTERACTIVE) == 2


def test_admission_is_atomic_and_per_owner(make_store: StoreFactory) -> None:
    store = make_store(key_max_queued_jobs=2, max_queued_jobs=100)
    for i in range(2):
        store.submit([NewJob(make_spec(f"a{i}"))], owner="alice", origin=Origin.INTERACTIVE, pool=POOL)
    with pytest.raises(KeyQueueFull, match="THINKSTREAM_KEY_MAX_QUEUED_JOBS"):
        store.submit([NewJob(make_spec("a2"))], owner="alice", origin=Origin.INTERACTIVE, pool=POOL)
    store.submit([NewJob(make_spec("b0"))], owner="bob", origin=Origin.INTERACTIVE, pool=POOL)  # bob has his own room
    # A started job no longer waits: alice has room again.
    assert take(store) == "a0"
    store.start("a0", 1, "w1")
    store.submit([NewJob(make_spec("a2"))], owner="alice", origin=Origin.INTERACTIVE, pool=POOL)


def test_batch_items_count_against_a_limit_of_their_own(make_store: StoreFactory) -> None:
    store = make_store(key_max_queued_jobs=1, key_max_batch_items=3)
    store.submit([NewJob(make_spec("q"))], owner="alice", origin=Origin.INTERACTIVE, pool=POOL)
    store.submit(
        [NewJob(make_spec(f"i{i}")) for i in range(3)],
        owner="alice",
        origin=Origin.BATCH,
        pool=POOL,
        priority=Priority.LOW,
    )
    with pytest.raises(KeyQueueFull, match="THINKSTREAM_KEY_MAX_BATCH_ITEMS"):
        store.submit([NewJob(make_spec("i3"))], owner="alice", origin=Origin.BATCH, pool=POOL, priority=Priority.LOW)


def test_bug5_an_old_workers_release_never_drops_a_newer_claim(make_store: StoreFactory) -> None:
    store = make_store()
    store.submit([NewJob(make_spec("j"))], owner=None, origin=Origin.INTERACTIVE, pool=POOL)
    store.start("j", 1, "old-worker")
    store.claim("j", "old-worker", "it stopped heartbeating")
    store.start("j", 2, "new-worker")
    store.release("j", "old-worker")  # the old worker comes back and cleans up
    assert store.redis.hget(keys.RUNNING_JOBS, "j") == b"new-worker", "the new worker's claim must survive"


def test_a_worker_taken_for_dead_cannot_write_into_the_next_run(make_store: StoreFactory) -> None:
    store = make_store()
    store.submit([NewJob(make_spec("j"))], owner=None, origin=Origin.INTERACTIVE, pool=POOL)
    store.start("j", 1, "w1")
    old = store.writer("j", 1)
    store.claim("j", "w1", "died")
    assert old.emit(stamp(ReasoningEvent, text="late", tokens=1)) == 0 and old.superseded
    assert not store.generated("j", 1, "w1", result())
    assert store.read("j").status is JobStatus.QUEUED


def test_an_end_of_reasoning_asked_while_queued_comes_with_the_start(make_store: StoreFactory) -> None:
    """The worker learns of it from the start itself, with no read of its own before the prompt."""
    store = make_store()
    for job_id in ("asked", "not-asked"):
        store.submit([NewJob(make_spec(job_id))], owner=None, origin=Origin.INTERACTIVE, pool=POOL)
    store.control("asked", "end_reasoning")
    asked, not_asked = store.start("asked", 1, "w1"), store.start("not-asked", 1, "w1")
    assert asked.outcome == "started" and asked.control is not None
    assert (asked.control.action, asked.control.round) == ("end_reasoning", 0)
    assert not_asked.outcome == "started" and not_asked.control is None


def test_cancel_a_queued_job_ends_it_and_it_never_runs(make_store: StoreFactory) -> None:
    store = make_store()
    store.submit([NewJob(make_spec("j"))], owner="alice", origin=Origin.INTERACTIVE, pool=POOL)
    assert store.cancel("j") is JobStatus.CANCELED
    assert queued(store.redis, owner="alice") == [] and store.scheduler.pick(POOL) is None
    assert store.start("j", 1, "w1").outcome == "ended"
    assert store.admission.waiting(Origin.INTERACTIVE) == 0


def test_bug6_the_last_item_finishes_its_batch_without_anyone_reading_it(make_store: StoreFactory) -> None:
    store = make_store()
    specs = [make_spec(f"i{n}") for n in range(2)]
    items = [
        BatchItem(
            line=n + 1,
            custom_id=f"c{n}",
            model="m",
            job=JobAccepted(id=s.job_id, status=JobStatus.QUEUED, events_url="", prompt_tokens=1, queue_position=0),
        )
        for n, s in enumerate(specs)
    ]
    record = BatchRecord(id="batch_x", input_file_id="file-in", created_at=0, model="m", items=items)
    store.batches.create(record, BatchMarks(in_progress_at=1))
    jobs = [NewJob(s, batch=BatchLink("batch_x", n + 1)) for n, s in enumerate(specs)]
    store.submit(jobs, owner=None, origin=Origin.BATCH, pool=POOL, priority=Priority.LOW)

    store.end("i0", stamp(DoneEvent, result=result()), JobStatus.SUCCEEDED)
    assert not store.redis.hexists(keys.batch_key("batch_x"), "completed_at")
    store.cancel("i1")  # the last item ends: nobody has read the batch

    batch = {k.decode(): v.decode() for k, v in store.redis.hgetall(keys.batch_key("batch_x")).items()}
    assert "completed_at" in batch and batch["output_file_id"] and batch["error_file_id"]
    assert batch["n_completed"] == "1" and batch["n_cancelled"] == "1"
    results = [ItemResult.model_validate_json(r) for r in store.redis.lrange(keys.batch_results_key("batch_x"), 0, -1)]
    assert [(r.line, r.outcome) for r in results] == [(1, "completed"), (2, "cancelled")]
    # The results outlive the jobs: they are the batch's own.
    store.redis.delete(keys.job_key("i0"), keys.job_events_key("i0"))
    assert store.redis.llen(keys.batch_results_key("batch_x")) == 2


def test_queueing_asks_redis_nothing_before_its_transaction_and_survives_a_flushed_script_cache(
    make_store: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """redis-py asks whether a pipeline's scripts are loaded (SCRIPT EXISTS, a round trip) before
    every execute; the store's transactions send their scripts' bodies instead, so queueing a
    job is one round trip, and a Redis whose script cache was emptied (a restart, a failover)
    still gets the whole transaction."""

    def asked(pipe: object) -> None:
        raise AssertionError("a round trip to ask for the pipeline's scripts")

    monkeypatch.setattr(Pipeline, "load_scripts", asked)
    store = make_store()
    store.submit([NewJob(make_spec("j1"))], owner=None, origin=Origin.INTERACTIVE, pool=POOL)
    store.redis.script_flush()
    if store.events is not store.redis:
        store.events.script_flush()
    store.submit([NewJob(make_spec("j2"))], owner=None, origin=Origin.INTERACTIVE, pool=POOL)
    assert [take(store), take(store)] == [rq_id_of("j1", 1), rq_id_of("j2", 1)]
    for job_id in ("j1", "j2"):
        assert store.read(job_id).status is JobStatus.QUEUED
        assert [json.loads(raw)["type"] for raw in store.events.lrange(keys.job_events_key(job_id), 0, -1)] == [
            "queued"
        ]
