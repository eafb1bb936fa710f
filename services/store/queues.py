"""Where jobs wait: the RQ queues, and admission to them.

A job comes from one of two origins, and keeps it for life: a person's question (`interactive`)
or a batch item (`batch`). The origin decides the limits it is admitted under (the order in which
workers take jobs is `scheduler.py`'s). Admission is one atomic check-and-reserve in
Redis, so concurrent submits can never pass a limit together; a job leaves the waiting set when
a worker starts it (or it ends first).
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass

from redis import Redis
from redis.client import Pipeline
from rq import Queue

from services.store.exceptions import KeyQueueFull, QueueFull
from services.store.tasks import SERIALIZER, TaskJob
from shared import keys
from shared.settings import Settings


class Origin(str, enum.Enum):
    INTERACTIVE = "interactive"
    BATCH = "batch"


def rq_queue(name: str, redis: Redis, *, cls: type[Queue] = Queue, **options: object) -> Queue:
    """An RQ queue as every thinkstream process must see it: JSON jobs that run only tasks.
    `cls`: a worker's own queue class (an inference worker's picks from its model's pool)."""
    return cls(name, connection=redis, serializer=SERIALIZER, job_class=TaskJob, **options)  # type: ignore[arg-type]


# KEYS: the origin's waiting set, the owner's waiting set of that origin.
# ARGV: now, drop entries scored before this, origin limit (0: none), owner limit (0: none), job ids.
# Returns {1, waiting before} when admitted, {-1, waiting} when the origin is full, {-2, owner's
# waiting} when the owner is at its limit. All jobs or none are admitted.
ADMIT_SCRIPT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[2])
local n = #ARGV - 4
local waiting = redis.call('ZCARD', KEYS[1])
local mine = redis.call('ZCARD', KEYS[2])
if tonumber(ARGV[3]) > 0 and waiting + n > tonumber(ARGV[3]) then return {-1, waiting} end
if tonumber(ARGV[4]) > 0 and mine + n > tonumber(ARGV[4]) then return {-2, mine} end
for i = 5, #ARGV do
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[i])
  redis.call('ZADD', KEYS[2], ARGV[1], ARGV[i])
end
return {1, waiting}
"""


@dataclass(frozen=True)
class Limits:
    origin: int
    """Jobs of this origin that may wait at once (0: no limit)."""
    owner: int
    """Jobs of one API key and this origin that may wait at once (0: no limit)."""
    horizon_s: float
    """A waiting entry older than this is stale (its job has long started or failed) and is dropped."""


class Admission:
    def __init__(self, redis: Redis, settings: Settings) -> None:
        self._redis = redis
        self._settings = settings
        self._admit = redis.register_script(ADMIT_SCRIPT)

    def limits(self, origin: Origin, owner: str | None) -> Limits:
        settings = self._settings
        if origin is Origin.BATCH:
            per_owner = settings.key_max_batch_items if owner is not None else 0
            return Limits(0, per_owner, settings.job_ttl_s + settings.batch_ttl_s)
        per_owner = settings.key_max_queued_jobs if owner is not None else 0
        return Limits(settings.max_queued_jobs, per_owner, settings.max_queue_wait_s + settings.job_timeout_s)

    def admit(self, job_ids: list[str], origin: Origin, owner: str | None) -> int:
        """Reserve places for `job_ids` (all or none); returns how many jobs of the origin were
        waiting before them. Raises `QueueFull` or `KeyQueueFull`."""
        limits = self.limits(origin, owner)
        now = time.time()
        code, count = self._admit(
            keys=[keys.waiting_key(origin.value), keys.owner_waiting_key(origin.value, owner)],
            args=[now, now - limits.horizon_s, limits.origin, limits.owner, *job_ids],
        )
        if code == -1:
            raise QueueFull(int(count), len(job_ids), limits.origin)
        if code == -2:
            raise KeyQueueFull(owner or "-", int(count), len(job_ids), limits.owner, origin.value)
        return int(count)

    def leave(self, job_ids: list[str], origin: Origin, owner: str | None, pipe: Pipeline | None = None) -> None:
        """The jobs no longer wait (started, ended, or their submit failed)."""
        client = pipe if pipe is not None else self._redis
        client.zrem(keys.waiting_key(origin.value), *job_ids)
        client.zrem(keys.owner_waiting_key(origin.value, owner), *job_ids)

    def waiting(self, origin: Origin) -> int:
        return int(self._redis.zcard(keys.waiting_key(origin.value)))
