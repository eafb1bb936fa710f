"""Redis clients that ride out a Redis restart.

Workers retry every command with exponential backoff for about a minute, so a generation pauses
while Redis restarts (AOF keeps the queues and logs) and goes on afterwards. The gateway retries
briefly: `/readyz` must say 503 quickly, and its streams resume on their own (`JobService.follow`).
"""

from __future__ import annotations

from redis import Redis
from redis.asyncio import BlockingConnectionPool
from redis.asyncio import Redis as AsyncRedis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, TimeoutError
from redis.retry import Retry

WORKER_RETRIES = 40
"""With backoff doubling from 0.05 s up to 2 s: about 75 s without Redis before giving up."""
GATEWAY_RETRIES = 2
BACKOFF = ExponentialBackoff(cap=2.0, base=0.05)
_ERRORS = (ConnectionError, TimeoutError)


def connect(url: str, *, retries: int = WORKER_RETRIES) -> Redis:
    return Redis.from_url(url, retry=Retry(BACKOFF, retries, _ERRORS), health_check_interval=15)


GATEWAY_CONNECTIONS = 128
"""Redis connections one gateway uses at most; requests beyond wait for one (up to
`POOL_WAIT_S`) instead of failing. Streams share one subscriber connection (`EventFanout`)."""
POOL_WAIT_S = 20


def connect_async(url: str, *, retries: int = GATEWAY_RETRIES) -> AsyncRedis:
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=GATEWAY_CONNECTIONS,
        timeout=POOL_WAIT_S,
        retry=AsyncRetry(BACKOFF, retries, _ERRORS),
        health_check_interval=15,
    )
    return AsyncRedis(connection_pool=pool)
