"""Per-API-key limits: requests per minute and jobs waiting in the queue.

Both live in Redis, so every gateway replica counts against the same numbers.
"""

from __future__ import annotations

import math
import time

from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import RedisError

from services.gateway.exceptions import QueueUnavailable, RateLimited
from shared import keys
from shared.schemas import JobStatus

WINDOW_S = 60
QUEUED_RETRY_AFTER_S = 5
"""What a key at its queued-jobs limit is told to wait: about one short job."""
RESERVATION_GRACE_S = 60.0
"""A tracked job whose hash is missing counts as waiting for this long (its submit may still be
storing it); after that it has expired and is dropped."""


class RequestLimit:
    """At most `per_minute` requests per key in each clock minute (fixed windows: simple, one
    INCR per request; a burst across a minute boundary may reach twice the rate briefly)."""

    def __init__(self, redis: AsyncRedis, per_minute: int) -> None:
        self._redis = redis
        self._per_minute = per_minute

    async def check(self, key_id: str) -> None:
        now = time.time()
        name = keys.api_key_requests_key(key_id, int(now // WINDOW_S))
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.incr(name)
                pipe.expire(name, 2 * WINDOW_S)
                count, _ = await pipe.execute()
        except RedisError as exc:
            raise QueueUnavailable(f"the rate limiter cannot reach Redis: {exc}") from exc
        if count > self._per_minute:
            retry_after_s = max(1, math.ceil(WINDOW_S - now % WINDOW_S))
            raise RateLimited(
                f"API key {key_id!r} made more than {self._per_minute} requests this minute "
                "(THINKSTREAM_KEY_REQUESTS_PER_MINUTE)",
                retry_after_s,
            )


class QueuedJobLimit:
    """At most `limit` jobs of one key waiting for a worker. Runs in the thread that stores the
    job, just before it is stored. Two submits of one key at the same moment may both pass at
    the limit (as with the global queue limit): a bound, not an exact count."""

    def __init__(self, redis: Redis, limit: int, ttl_s: int) -> None:
        self._redis = redis
        self._limit = limit
        self._ttl_s = ttl_s

    def reserve(self, key_id: str, job_id: str) -> None:
        tracked = keys.api_key_queued_key(key_id)
        now = time.time()
        members = self._redis.zrange(tracked, 0, -1, withscores=True)
        if len(members) >= self._limit:
            waiting = self._prune(tracked, members, now)
            if waiting >= self._limit:
                raise RateLimited(
                    f"API key {key_id!r} already has {waiting} jobs waiting, its limit "
                    "(THINKSTREAM_KEY_MAX_QUEUED_JOBS); cancel some or wait for them to start",
                    QUEUED_RETRY_AFTER_S,
                )
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.zadd(tracked, {job_id: now})
            pipe.expire(tracked, self._ttl_s)
            pipe.execute()

    def _prune(self, tracked: str, members: list[tuple[bytes, float]], now: float) -> int:
        """Drop the jobs that no longer wait; returns how many still do."""
        with self._redis.pipeline(transaction=False) as pipe:
            for job_id, _ in members:
                pipe.hget(keys.job_key(job_id.decode()), "status")
            statuses = pipe.execute()
        gone = [
            job_id
            for (job_id, added), status in zip(members, statuses, strict=True)
            if (status is None and now - added > RESERVATION_GRACE_S)
            or (status is not None and status.decode() != JobStatus.QUEUED.value)
        ]
        if gone:
            self._redis.zrem(tracked, *gone)
        return len(members) - len(gone)
