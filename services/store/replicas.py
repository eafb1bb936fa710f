"""Waiting until Redis replicas hold what was just written.

Redis replicates asynchronously: a primary lost a moment after it acknowledged a write may take
the write with it, and the replica promoted in its place never saw it. `WAIT n timeout` blocks
until `n` replicas acknowledged everything the *same connection* wrote, so the wait goes in one
pipeline with a write that follows the writes to protect (replication is one ordered stream).

Only replicas that are online count: while a replica is still copying the whole data set after
a restart, there is nothing to wait for, and waiting would refuse every job.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from redis import Redis
from redis.client import Pipeline
from redis.exceptions import ResponseError

INFO_TTL_S = 1.0
"""How long a count of online replicas is trusted before INFO is asked again."""


class Replicas:
    def __init__(self, redis: Redis, *, wanted: int, timeout_ms: int, clock: Callable[[], float] = time.monotonic):
        self._redis = redis
        self.wanted = wanted
        """How many replicas must hold a write (capped at the replicas online); 0: never wait."""
        self.timeout_ms = timeout_ms
        self._clock = clock
        self._online = 0
        self._checked_at = float("-inf")

    def needed(self) -> int:
        """How many replicas to wait for now."""
        if self.wanted <= 0:
            return 0
        return min(self.wanted, self.online())

    def online(self) -> int:
        if self._clock() - self._checked_at > INFO_TTL_S:
            self._online = _online_replicas(self._redis)
            self._checked_at = self._clock()
        return self._online

    def wait(self, pipe: Pipeline, replicas: int) -> bool:
        """Run `pipe` (not a transaction: the caller put a write in it, after the ones to
        protect) followed by `WAIT`; True if `replicas` acknowledged within the timeout."""
        pipe.wait(replicas, self.timeout_ms)
        *_, acked = pipe.execute()
        return int(acked) >= replicas


def _online_replicas(redis: Redis) -> int:
    try:
        info = redis.info("replication")
    except ResponseError:  # a server (or a fake) that does not answer INFO: no replicas to count on
        return 0
    return sum(1 for key, value in info.items() if key.startswith("slave") and _is_online(value))


def _is_online(value: object) -> bool:
    return isinstance(value, dict) and value.get("state") == "online"
