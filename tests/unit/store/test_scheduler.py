"""Which job a worker takes next: round-robin over API keys, priorities with aging."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from services.store.jobs import JobStore
from services.store.queues import Origin, rq_queue
from services.store.records import NewJob
from services.store.scheduler import Priority, pool_queue_class
from services.store.tasks import SERIALIZER, TaskJob
from shared import keys
from tests.unit.store.conftest import POOL, make_spec, take

StoreFactory = Callable[..., JobStore]


def submit(store: JobStore, job_id: str, owner: str | None, priority: Priority = Priority.NORMAL) -> None:
    origin = Origin.BATCH if priority is Priority.LOW else Origin.INTERACTIVE
    store.submit([NewJob(make_spec(job_id))], owner=owner, origin=origin, pool=POOL, priority=priority)


def test_scheduler_a_key_with_many_jobs_delays_another_by_one_job(make_store: StoreFactory) -> None:
    store = make_store(key_max_queued_jobs=100)
    for n in range(5):
        submit(store, f"a{n}", "alice")
    submit(store, "b0", "bob")
    submit(store, "c0", "carol")
    order = [take(store) for _ in range(7)]
    assert order[:3] == ["a0", "b0", "c0"], "bob and carol each wait for at most one of alice's jobs"
    assert order[3:] == ["a1", "a2", "a3", "a4"]
    assert store.scheduler.pick(POOL) is None


def test_scheduler_a_high_question_overtakes_queued_normal_and_low_work(make_store: StoreFactory) -> None:
    store = make_store()
    for n in range(3):
        submit(store, f"batch{n}", "alice", Priority.LOW)
        submit(store, f"n{n}", "alice")
    submit(store, "urgent", "bob", Priority.HIGH)
    assert [take(store) for _ in range(4)] == ["urgent", "n0", "n1", "n2"]
    assert take(store) == "batch0"


def test_scheduler_low_work_ages_and_is_never_starved(make_store: StoreFactory) -> None:
    store = make_store(priority_aging_s=0.2)
    submit(store, "old-batch-item", "alice", Priority.LOW)
    time.sleep(0.5)  # more than twice the aging step
    submit(store, "fresh-high", "bob", Priority.HIGH)
    assert take(store) == "old-batch-item", "a low job that waited past 2 x aging goes before fresh high work"


def test_scheduler_a_cancelled_job_is_not_taken(make_store: StoreFactory) -> None:
    store = make_store()
    submit(store, "gone", "alice")
    submit(store, "kept", "alice")
    store.cancel("gone")
    assert take(store) == "kept"
    assert store.scheduler.pick(POOL) is None
    assert store.scheduler.waiting(POOL)[Priority.NORMAL] == 0


def test_scheduler_an_idle_worker_wakes_when_a_job_arrives(make_store: StoreFactory) -> None:
    store = make_store()
    cls = pool_queue_class(store.scheduler)
    pool = rq_queue(keys.pool_queue(POOL), store.redis, cls=cls)
    own = rq_queue(keys.worker_queue("w1"), store.redis, cls=cls)
    timer = threading.Timer(0.3, submit, (store, "late", "alice"))
    timer.start()
    started = time.monotonic()
    found = cls.dequeue_any([own, pool], 5, store.redis, TaskJob, SERIALIZER)
    waited = time.monotonic() - started
    timer.join()
    assert found is not None and found[0].id == "late"
    assert waited < 1.0, f"the worker noticed the job only after {waited:.2f} s"


def test_scheduler_a_workers_own_queue_goes_first(make_store: StoreFactory) -> None:
    store = make_store()
    submit(store, "pooled", "alice", Priority.HIGH)
    store.submit(
        [NewJob(make_spec("turn2"))],
        owner="bob",
        origin=Origin.INTERACTIVE,
        pool=POOL,
        queue_name=keys.worker_queue("w1"),
    )
    cls = pool_queue_class(store.scheduler)
    queues = [
        rq_queue(keys.worker_queue("w1"), store.redis, cls=cls),
        rq_queue(keys.pool_queue(POOL), store.redis, cls=cls),
    ]
    first = cls.dequeue_any(queues, None, store.redis, TaskJob, SERIALIZER)
    second = cls.dequeue_any(queues, None, store.redis, TaskJob, SERIALIZER)
    assert first is not None and second is not None
    assert (first[0].id, second[0].id) == ("turn2", "pooled")


def test_scheduler_a_taken_job_is_the_job_rq_would_fetch_and_a_deleted_one_is_skipped(
    make_store: StoreFactory,
) -> None:
    store = make_store()
    submit(store, "deleted", "alice")
    submit(store, "kept", "bob")
    store.redis.delete(TaskJob.key_for("deleted"))  # its RQ hash expired or was removed
    cls = pool_queue_class(store.scheduler)
    queues = [
        rq_queue(keys.worker_queue("w1"), store.redis, cls=cls),
        rq_queue(keys.pool_queue(POOL), store.redis, cls=cls),
    ]
    found = cls.dequeue_any(queues, None, store.redis, TaskJob, SERIALIZER)
    assert found is not None
    job, queue = found
    fetched = TaskJob.fetch("kept", connection=store.redis, serializer=SERIALIZER)
    assert (job.id, job.func_name, job.args, job.kwargs, job.origin, job.timeout) == (
        fetched.id,
        fetched.func_name,
        fetched.args,
        fetched.kwargs,
        fetched.origin,
        fetched.timeout,
    )
    assert job.id == "kept" and queue.name == job.origin
    assert cls.dequeue_any(queues, None, store.redis, TaskJob, SERIALIZER) is None


def test_scheduler_backlog_lists_count_each_models_waiting_jobs_for_an_autoscaler(make_store: StoreFactory) -> None:
    store = make_store()
    for n in range(3):
        submit(store, f"n{n}", "alice")
    submit(store, "batch0", "bob", Priority.LOW)
    store.submit([NewJob(make_spec("other"))], owner=None, origin=Origin.INTERACTIVE, pool="another-model")
    redis = store.redis
    assert redis.llen(keys.backlog_key(POOL, "normal")) == 3 and redis.llen(keys.backlog_key(POOL, "low")) == 1
    assert redis.llen(keys.backlog_key("another-model", "normal")) == 1
    assert take(store) == "n0"
    assert redis.llen(keys.backlog_key(POOL, "normal")) == 2
    store.cancel("n1")
    assert redis.llen(keys.backlog_key(POOL, "normal")) == 1
    assert store.withdraw("n2", "model_unavailable", "no worker")
    assert redis.llen(keys.backlog_key(POOL, "normal")) == 0
