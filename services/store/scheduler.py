"""Which waiting job a worker takes next: priorities with aging, round-robin over API keys.

Every model's workers share a pool of RQ queues, one per (priority, API key):
`thinkstream-inference:<model>:<priority>:<key>`. Jobs are RQ jobs in those RQ queues as ever;
only the choice of the next one is thinkstream's:

- Priority with aging. Each priority's oldest waiting job has an age; `high` counts as having
  waited 2 x `priority_aging_s` longer and `normal` 1 x longer; the priority whose oldest job is
  "oldest" that way goes first. So a high question overtakes normal work that has waited less
  than `priority_aging_s`, and a low job (batches) waits at most 2 x `priority_aging_s` longer
  than work of any other priority: it cannot starve.
- Within a priority, round-robin over the API keys that have jobs waiting: a key with 64 jobs
  queued delays another key's job by at most one job per worker.

A worker listens on its own queue (conversation affinity) and on the pool's name; the choice is
one Lua script, so two workers never take the same job. Idle workers block on the pool's
doorbell list, which every queueing rings, instead of polling.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from redis import Redis
from redis.client import Pipeline
from rq import Queue
from rq.exceptions import DequeueTimeout
from rq.job import Job

from services.store.scripts import queue_script
from shared import keys
from shared.settings import Settings


class Priority(str, enum.Enum):
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"

    @property
    def rank(self) -> int:
        return PRIORITIES.index(self)


PRIORITIES = (Priority.HIGH, Priority.NORMAL, Priority.LOW)
DOORBELL_KEEP = 64
"""Rings kept on the doorbell: enough to wake every idle worker, bounded when none is idle."""
WAKE_EVERY_S = 1
"""An idle worker looks again at least this often (a ring may be missed in a failover)."""

# KEYS: the owner's ring, the ring's member set, the priority's waiting set, the pool's doorbell,
# the priority's backlog list.
# ARGV: owner, RQ job id, now.  After the job's RQ queue got the job: list the owner in the ring
# (once), note the job's wait (also in the backlog an autoscaler reads), ring the doorbell.
ENLIST_SCRIPT = """
if redis.call('SADD', KEYS[2], ARGV[1]) == 1 then redis.call('RPUSH', KEYS[1], ARGV[1]) end
if redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2]) == 1 then redis.call('RPUSH', KEYS[5], ARGV[2]) end
redis.call('RPUSH', KEYS[4], '1')
redis.call('LTRIM', KEYS[4], -tonumber(ARGV[4]), -1)
return 1
"""

# KEYS: rings (high, normal, low), their member sets, their waiting sets, their backlog lists; then
#   the worker's own queues, taken from first, in order.
# ARGV: now, boost of each priority in seconds (high, normal, low), the pool's queue key prefix
#   ("rq:queue:thinkstream-inference:<model>:"), the priority names (high, normal, low), RQ's job
#   key prefix ("rq:job:").
# Returns {queue key, RQ job id, the job's hash as field, value, ...} (no fields: the job is gone),
# or {} when nothing waits. The job's hash comes along so that a worker starts it one round trip
# sooner than RQ's own dequeue would (a pop, then a fetch).
TAKE_SCRIPT = """
local function taken(queue, job)
  local out = {queue, job}
  for _, value in ipairs(redis.call('HGETALL', ARGV[9] .. job)) do out[#out + 1] = value end
  return out
end
for k = 13, #KEYS do
  local job = redis.call('LPOP', KEYS[k])
  if job then return taken(KEYS[k], job) end
end
local now = tonumber(ARGV[1])
local best, best_age = 0, nil
for p = 1, 3 do
  local oldest = redis.call('ZRANGE', KEYS[6 + p], 0, 0, 'WITHSCORES')
  if #oldest > 0 then
    local age = now - tonumber(oldest[2]) + tonumber(ARGV[1 + p])
    if best_age == nil or age > best_age then best, best_age = p, age end
  end
end
if best == 0 then return {} end
local ring, members, waiting, backlog = KEYS[best], KEYS[3 + best], KEYS[6 + best], KEYS[9 + best]
local prefix = ARGV[5] .. ARGV[5 + best] .. ':'
for i = 1, redis.call('LLEN', ring) do
  local owner = redis.call('LPOP', ring)
  local queue = prefix .. owner
  local job = redis.call('LPOP', queue)
  if job then
    if redis.call('LLEN', queue) > 0 then
      redis.call('RPUSH', ring, owner)
    else
      redis.call('SREM', members, owner)
    end
    redis.call('ZREM', waiting, job)
    redis.call('LREM', backlog, 1, job)
    return taken(queue, job)
  end
  redis.call('SREM', members, owner)
end
-- Waiting entries without a job in any queue (cancelled since): forget them.
redis.call('DEL', waiting, backlog)
return {}
"""


@dataclass(frozen=True)
class Taken:
    """A job a worker took: the RQ queue it was in, its RQ id and RQ's hash of it (empty when
    the job is gone)."""

    queue_key: str
    job_id: str
    job_hash: dict[bytes, bytes]


class Scheduler:
    def __init__(self, redis: Redis, settings: Settings) -> None:
        self._redis = redis
        self._aging_s = settings.priority_aging_s
        self._enlist = redis.register_script(ENLIST_SCRIPT)
        self._take = redis.register_script(TAKE_SCRIPT)

    def enlist(self, pipe: Pipeline, pool: str, priority: Priority, owner: str | None, rq_id: str) -> None:
        """In the transaction that put `rq_id` on its owner's queue: make it visible to the pool."""
        owner_name = owner or "-"
        queue_script(
            pipe,
            self._enlist,
            [
                keys.ring_key(pool, priority.value),
                keys.ring_members_key(pool, priority.value),
                keys.priority_waiting_key(pool, priority.value),
                keys.doorbell_key(pool),
                keys.backlog_key(pool, priority.value),
            ],
            [owner_name, rq_id, time.time(), DOORBELL_KEEP],
        )

    def forget(self, pipe: Pipeline | Redis, pool: str, priority: Priority, rq_id: str) -> None:
        """A job left its queue without being picked (it was cancelled)."""
        pipe.zrem(keys.priority_waiting_key(pool, priority.value), rq_id)
        pipe.lrem(keys.backlog_key(pool, priority.value), 1, rq_id)

    def pick(self, pool: str) -> tuple[str, str] | None:
        """Take the next job of the pool: `(queue key, RQ job id)`, or None when nothing waits."""
        taken = self.take(pool)
        return None if taken is None else (taken.queue_key, taken.job_id)

    def take(self, pool: str, own_queues: Sequence[str] = ()) -> Taken | None:
        """Take the next job of a worker: the first in its own queues (RQ keys), else the pool's
        pick; None when nothing waits."""
        names = [p.value for p in PRIORITIES]
        found = self._take(
            keys=[
                *(keys.ring_key(pool, name) for name in names),
                *(keys.ring_members_key(pool, name) for name in names),
                *(keys.priority_waiting_key(pool, name) for name in names),
                *(keys.backlog_key(pool, name) for name in names),
                *own_queues,
            ],
            args=[
                time.time(),
                2 * self._aging_s,
                self._aging_s,
                0,
                f"{Queue.redis_queue_namespace_prefix}{keys.pool_queue(pool)}:",
                *names,
                Job.redis_job_namespace_prefix,
            ],
        )
        if not found:
            return None
        queue_key, job_id, *fields = found
        return Taken(_text(queue_key), _text(job_id), dict(zip(fields[::2], fields[1::2], strict=True)))

    def waiting(self, pool: str) -> dict[Priority, int]:
        with self._redis.pipeline(transaction=False) as pipe:
            for priority in PRIORITIES:
                pipe.zcard(keys.priority_waiting_key(pool, priority.value))
            counts = pipe.execute()
        return {priority: int(count) for priority, count in zip(PRIORITIES, counts, strict=True)}

    def position(self, pool: str, priority: Priority, rq_id: str) -> int | None:
        """How many jobs of the same priority were queued before this one (None: not waiting)."""
        rank = self._redis.zrank(keys.priority_waiting_key(pool, priority.value), rq_id)
        return None if rank is None else int(rank)


class PoolQueue(Queue):
    """The queue class of inference workers. A worker lists its own queue and the pool's name
    (`keys.pool_queue(model)`); `dequeue_any` takes from the own queue first, then lets the
    scheduler choose, and waits on the doorbell when nothing waits."""

    scheduler: Scheduler | None = None
    """Set on the subclass each worker makes (`pool_queue_class`)."""

    @classmethod
    def dequeue_any(
        cls,
        queues: Iterable[Queue],
        timeout: int | None,
        connection: Redis,
        job_class: Any = None,
        serializer: Any = None,
        death_penalty_class: Any = None,
    ) -> tuple[Any, Queue] | None:
        listed = list(queues)
        own = [q for q in listed if not q.name.startswith(keys.INFERENCE_QUEUE + ":")]
        pools = [q.name.removeprefix(keys.INFERENCE_QUEUE + ":") for q in listed if q not in own]
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            found = cls._take(connection, own, pools, job_class, serializer, death_penalty_class)
            if found is not None:
                return found
            if deadline is None:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                raise DequeueTimeout(timeout, [q.key for q in listed])
            bells = [keys.doorbell_key(pool) for pool in pools]
            if bells:
                connection.blpop(bells, timeout=max(1, min(int(left), WAKE_EVERY_S)))
            else:
                time.sleep(min(left, WAKE_EVERY_S))

    @classmethod
    def _take(
        cls,
        connection: Redis,
        own: list[Queue],
        pools: list[str],
        job_class: Any,
        serializer: Any,
        death_penalty_class: Any,
    ) -> tuple[Any, Queue] | None:
        """The next job of the worker's own queues, else of its pools; None when nothing waits.
        A job that is gone (deleted since it was queued) is skipped, as RQ skips it."""
        if not pools:  # a worker of its own queue only: RQ's pop, then fetch
            for queue in own:
                job_id = connection.lpop(queue.key)
                if job_id is not None:
                    found = cls._fetch_dequeued_job(
                        connection, queue.key, _text(job_id), job_class, serializer, death_penalty_class
                    )
                    if found is not None:
                        return found
            return None
        assert cls.scheduler is not None, "use pool_queue_class() to make the worker's queue class"
        own_keys = [queue.key for queue in own]
        for index, pool in enumerate(pools):
            # One round trip: the own queues first (with the first pool), then the pick.
            while (taken := cls.scheduler.take(pool, own_keys if index == 0 else [])) is not None:
                if not taken.job_hash:
                    continue
                queue = cls.from_queue_key(
                    taken.queue_key,
                    connection=connection,
                    job_class=job_class,
                    serializer=serializer,
                    death_penalty_class=death_penalty_class,
                )
                job = (job_class or Job)(taken.job_id, connection=connection, serializer=serializer)
                job.restore(taken.job_hash)
                return job, queue
        return None


def pool_queue_class(scheduler: Scheduler) -> type[PoolQueue]:
    """The queue class for one worker, bound to its scheduler."""
    return type("BoundPoolQueue", (PoolQueue,), {"scheduler": scheduler})


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
