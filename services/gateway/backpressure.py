"""How long a client refused for a full queue should wait before trying again: until the workers
have taken enough jobs for one more to fit, at the pace they have been finishing them."""

from __future__ import annotations

import math

from redis import Redis

from services.runtime.heartbeat import INFERENCE, live_workers
from shared.stats import mean_generation_s

FALLBACK_S = 5
"""Before the first finished job, or with no live worker, there is no pace to go by."""
MAX_S = 60
"""Longer than this and a client would rather hear that the service is down; OpenAI's client
also honours a Retry-After only up to 60 s."""


def retry_after_s(redis: Redis, *, excess: int, worker_ttl_s: float) -> int:
    """`excess`: how many jobs must leave the queue before a new one fits (at least 1)."""
    workers = len(live_workers(redis, INFERENCE, worker_ttl_s))
    mean_s = mean_generation_s(redis)
    if not workers or mean_s is None:
        return FALLBACK_S
    return min(MAX_S, max(1, math.ceil(excess * mean_s / workers)))
