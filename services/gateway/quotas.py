"""Per-API-key limits: requests per minute (jobs waiting are admitted by `services.store.queues`).

Both live in Redis, so every gateway replica counts against the same numbers.
"""

from __future__ import annotations

import math
import time

from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import RedisError

from services.gateway.exceptions import QueueUnavailable, RateLimited
from shared import keys

WINDOW_S = 60


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
