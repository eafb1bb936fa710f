"""Finding the work of dead inference workers and giving it to live ones.

Every worker process runs `Sweeper.sweep()` on each heartbeat. An inference worker whose
heartbeat is older than `worker_ttl_s` is dead: each job it was running is claimed (atomically,
so two sweepers never requeue the same job), gets a `retry` event and goes back to the front of
the queue it came from (a batch item to the batch queue, any other job to the shared queue) with
its attempt number raised; the jobs waiting in the dead worker's own queue move to the shared
queue. A job lost more than `max_attempts` times fails; if it was a self-consistency sample, its
parent is told so that it votes without it. The attempt number fences the dead worker: if it was only paused and
comes back, the event log refuses its writes and it stops. RQ's own detection of abandoned jobs
takes many minutes; this takes `worker_ttl_s` plus one heartbeat.
"""

from __future__ import annotations

import logging
import time

from redis import Redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job

from shared import keys
from shared.eventlog import EventWriter, stamp
from shared.sampling import report_sample
from shared.schemas import ErrorEvent, JobSpec, JobStatus, RetryEvent
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
        self._batch = Queue(keys.BATCH_QUEUE, connection=redis)

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
            if (raw := self._redis.hget(keys.job_key(job_id), "spec")) is not None:
                spec = JobSpec.model_validate_json(raw)
                report_sample(self._redis, spec, answer="", key="", verdict="error", ttl_s=ttl_s)
            return
        reason = f"worker {dead_worker} stopped responding; the job starts again on another worker"
        events.emit(stamp(RetryEvent, attempt=attempt, reason=reason))
        self._queue_of(job_id).enqueue(
            INFERENCE_FUNC,
            job_id,
            job_id=job_id,
            at_front=True,
            job_timeout=self._settings.job_timeout_s,
            result_ttl=ttl_s,
            failure_ttl=ttl_s,
        )
        log.warning("job %s requeued as attempt %d: %s", job_id, attempt, reason)

    def _queue_of(self, job_id: str) -> Queue:
        """The batch queue for a batch item, so that it keeps its low priority; else the shared one."""
        try:
            origin = Job.fetch(job_id, connection=self._redis).origin
        except NoSuchJobError:
            return self._shared
        return self._batch if origin == keys.BATCH_QUEUE else self._shared


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
