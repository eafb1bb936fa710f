"""Per-minute limits on callers: requests per API key, requests per client address for
everything sent without a valid key, and failed keys per client address.

They live in Redis, so every gateway replica counts against the same numbers. Fixed windows:
one INCR per request; a burst across a minute boundary may reach twice the rate briefly.
"""

from __future__ import annotations

import math
import time

from redis.asyncio import Redis as AsyncRedis

from services.gateway.exceptions import RateLimited
from shared import keys

WINDOW_S = 60


class WindowCounter:
    def __init__(self, redis: AsyncRedis, kind: str, per_minute: int, what: str) -> None:
        self._redis = redis
        self._kind = kind
        self._per_minute = per_minute
        self._what = what

    async def check(self, subject: str) -> None:
        """Count one request of `subject`; `RateLimited` past the limit."""
        self._refuse_past(await self._add(subject), subject)

    async def peek(self, subject: str) -> None:
        """`RateLimited` if `subject` has used up its limit already; counts nothing."""
        raw = await self._redis.get(self._key(subject))
        self._refuse_past(int(raw or 0) + 1, subject)

    async def count(self, subject: str) -> None:
        await self._add(subject)

    async def _add(self, subject: str) -> int:
        name = self._key(subject)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.incr(name)
            pipe.expire(name, 2 * WINDOW_S)
            count, _ = await pipe.execute()
        return int(count)

    def _refuse_past(self, count: int, subject: str) -> None:
        if count > self._per_minute:
            retry_after_s = max(1, math.ceil(WINDOW_S - time.time() % WINDOW_S))
            raise RateLimited(f"{subject!r} made more than {self._per_minute} {self._what}", retry_after_s)

    def _key(self, subject: str) -> str:
        return keys.rate_window_key(self._kind, subject, int(time.time() // WINDOW_S))
