"""Finding the work of dead inference workers and giving it to live ones.

Every worker process runs `Sweeper.sweep()` on each heartbeat. An inference worker whose
heartbeat is older than `worker_ttl_s` is dead: each job it was running is claimed (atomically,
so two sweepers never requeue the same job), gets a `retry` event and goes back to the front of
the shared queue with its attempt number raised; the jobs waiting in the dead worker's own queue
move to the shared queue. The attempt number fences the dead worker: if it was only paused and
comes back, the event log refuses its writes and it stops. RQ's own detection of abandoned jobs
takes many minutes; this takes `worker_ttl_s` plus one heartbeat.
"""

from __future__ import annotations

import logging
import time

from redis import Redis
from rq import Queue

from shared import keys
from shared.eventlog import EventWriter, stamp
from shared.schemas import ErrorEvent, JobStatus, RetryEvent
from shared.settings import Settings
from shared.tasks import INFERENCE_FUNC

log = logging.getLogger(__name__)

INFERENCE_KIND = "inference"

# KEYS: running-jobs hash, job hash.  ARGV: job id, the dead worker's id.
# Returns the job's new attempt number, or 0 if someone else claimed it or it already ended.
CLAIM_SCRIPT = """
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('EXISTS', KEYS[2]) == 0 or redis.call('HEXISTS', KEYS[2], 'ended') == 1 then return 0 end
local attempt = tonumber(redis.call('HGET', KEYS[2], 'attempt') or '1') + 1
redis.call('HSET', KEYS[2], 'attempt', attempt, 'status', 'queued')
return attempt
"""


class Sweeper:
    def __init__(self, redis: Redis, settings: Settings) -> None:
        self._redis = redis
        self._settings = settings
        self._claim = redis.register_script(CLAIM_SCRIPT)
        self._shared = Queue(keys.INFERENCE_QUEUE, connection=redis)

    def sweep(self) -> list[str]:
        """Requeue the jobs of dead inference workers; returns the ids of the jobs handled."""
        dead = self._dead_workers()
        if not dead:
            return []
        handled = []
        for raw_job, raw_worker in self._redis.hgetall(keys.RUNNING_JOBS).items():
            worker_id = raw_worker.decode()
            if worker_id in dead:
                job_id = raw_job.decode()
                attempt = int(self._claim(keys=[keys.RUNNING_JOBS, keys.job_key(job_id)], args=[job_id, worker_id]))
                if attempt:
                    self._retry(job_id, worker_id, attempt)
                    handled.append(job_id)
        for worker_id in dead:
            moved = hand_back(Queue(keys.worker_queue(worker_id), connection=self._redis), self._shared)
            self._redis.zrem(keys.live_workers_key(INFERENCE_KIND), worker_id)
            log.warning("inference worker %s stopped heartbeating; %d queued job(s) moved", worker_id, moved)
        return handled

    def _dead_workers(self) -> set[str]:
        """Workers whose last heartbeat is too old, plus any running a job without a heartbeat."""
        deadline = time.time() - self._settings.worker_ttl_s
        live_key = keys.live_workers_key(INFERENCE_KIND)
        stale = {w.decode() for w in self._redis.zrangebyscore(live_key, "-inf", deadline)}
        running = {w.decode() for w in self._redis.hvals(keys.RUNNING_JOBS)}
        scores = {w: self._redis.zscore(live_key, w) for w in running - stale}
        return stale | {w for w, score in scores.items() if score is None}

    def _retry(self, job_id: str, dead_worker: str, attempt: int) -> None:
        ttl_s = self._settings.job_ttl_s
        events = EventWriter(self._redis, job_id, ttl_s)
        if attempt > self._settings.max_attempts:
            self._redis.hset(keys.job_key(job_id), "status", JobStatus.FAILED.value)
            message = (
                f"the job was lost with its worker {attempt - 1} times and is not retried again "
                f"(THINKSTREAM_MAX_ATTEMPTS={self._settings.max_attempts}); submit it again"
            )
            events.emit(stamp(ErrorEvent, message=message, code="worker_lost"))
            log.error("job %s failed: %s", job_id, message)
            return
        reason = f"worker {dead_worker} stopped responding; the job starts again on another worker"
        events.emit(stamp(RetryEvent, attempt=attempt, reason=reason))
        self._shared.enqueue(
            INFERENCE_FUNC,
            job_id,
            job_id=job_id,
            at_front=True,
            job_timeout=self._settings.job_timeout_s,
            result_ttl=ttl_s,
            failure_ttl=ttl_s,
        )
        log.warning("job %s requeued as attempt %d: %s", job_id, attempt, reason)


def hand_back(own: Queue, shared: Queue) -> int:
    """Move the jobs waiting in a worker's own queue to the shared one (the worker is gone)."""
    moved = 0
    for job_id in own.get_job_ids():
        job = own.fetch_job(job_id)
        own.remove(job_id)
        if job is not None:
            shared.enqueue_job(job)
            moved += 1
    return moved
