"""Finding the work of dead inference workers and giving it to live ones.

Every worker process runs `Sweeper.sweep()` on each heartbeat. An inference worker whose
heartbeat is older than `worker_ttl_s` is dead: each job it was running is claimed through the
job store (atomically, so two sweepers never requeue the same job): it gets a `retry` event and
its next run goes to the front of its owner's queue at its own priority (a batch item stays
low priority), to go on from the job's last streamed token; a job lost `max_attempts` times
fails (and a sample that fails reports to its parent, which votes without it). The jobs waiting
in the dead worker's own queue move to their pool. Runs fence the dead worker: if it was only
paused and comes back, the event log refuses its writes and it stops. RQ's own detection of
abandoned jobs takes many minutes; this takes `worker_ttl_s` plus one heartbeat.
"""

from __future__ import annotations

import logging

from redis import Redis
from rq import Queue

from services.runtime.heartbeat import INFERENCE, live_workers
from services.store.exceptions import JobGone
from services.store.jobs import JobStore
from services.store.queues import rq_queue
from shared import keys
from shared.settings import Settings

log = logging.getLogger(__name__)


class Sweeper:
    def __init__(self, redis: Redis, settings: Settings, events: Redis | None = None) -> None:
        """`events`: the event plane's client, when it has its own Redis."""
        self._redis = redis
        self._settings = settings
        self._store = JobStore(redis, settings, events)

    def sweep(self) -> list[str]:
        """Requeue (or fail) the jobs of dead inference workers, and finish the new runs a dead
        process left between the two planes; returns the ids of the jobs handled."""
        handled = self._store.finish_requeues(self._settings.worker_ttl_s) if self._settings.events_redis_url else []
        dead = self._dead_workers()
        if not dead:
            return handled
        for raw_job, raw_worker in self._redis.hgetall(keys.RUNNING_JOBS).items():
            worker_id = raw_worker.decode()
            if worker_id not in dead:
                continue
            job_id = raw_job.decode()
            reason = f"worker {worker_id} stopped responding; another worker goes on from the last token streamed"
            try:
                outcome = self._store.claim(job_id, worker_id, reason)
            except JobGone:
                self._store.release(job_id, worker_id)
                continue
            if outcome != "skipped":
                log.warning("job %s of dead worker %s: %s", job_id, worker_id, outcome)
                handled.append(job_id)
        for worker_id in dead:
            moved = hand_back(rq_queue(keys.worker_queue(worker_id), self._redis), self._store)
            self._redis.zrem(keys.live_workers_key(INFERENCE), worker_id)
            log.warning("inference worker %s stopped heartbeating; %d queued job(s) moved", worker_id, moved)
        return handled

    def _dead_workers(self) -> set[str]:
        """Workers whose last heartbeat is too old, plus any running a job without a heartbeat."""
        alive = set(live_workers(self._redis, INFERENCE, self._settings.worker_ttl_s))
        known = {w.decode() for w in self._redis.zrange(keys.live_workers_key(INFERENCE), 0, -1)}
        running = {w.decode() for w in self._redis.hvals(keys.RUNNING_JOBS)}
        return (known | running) - alive


def hand_back(own: Queue, store: JobStore) -> int:
    """Move the jobs waiting in a worker's own queue to their pool (the worker is gone)."""
    moved = 0
    for rq_id in own.get_job_ids():
        job = own.fetch_job(rq_id)
        own.remove(rq_id)
        if job is not None and len(job.args) == 2 and store.to_pool(str(job.args[0]), int(job.args[1])):
            moved += 1
    return moved
