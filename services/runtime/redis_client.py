"""Redis clients that ride out a Redis restart, and a failover.

Workers retry every command with exponential backoff for about a minute, so a generation pauses
while Redis restarts (AOF keeps the queues and logs) and goes on afterwards. The gateway retries
briefly: `/readyz` must say 503 quickly, and its streams resume on their own (`JobService.follow`).

With a `redis+sentinel://` URL the clients ask the Sentinels where the primary is, and ask again
before every connection attempt (redis-py's `Sentinel`, and `_FollowingConnection`): after a
failover the same retries land on the promoted replica. A lost machine does not refuse
connections, it goes silent, so those connections send TCP keepalives and give up on a silent
peer within seconds.
"""

from __future__ import annotations

import socket
from typing import Any

from redis import Redis
from redis.asyncio import BlockingConnectionPool
from redis.asyncio import Redis as AsyncRedis
from redis.asyncio.cluster import ClusterNode as AsyncClusterNode
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.asyncio.retry import Retry as AsyncRetry
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.asyncio.sentinel import SentinelConnectionPool as AsyncSentinelPool
from redis.asyncio.sentinel import SentinelManagedConnection as AsyncSentinelConnection
from redis.backoff import ExponentialBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import ConnectionError, TimeoutError
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelManagedConnection

from shared.redis_url import CLUSTER_SCHEME, SENTINEL_SCHEME, SentinelUrl, parse_cluster_url, parse_sentinel_url
from shared.settings import Settings

WORKER_RETRIES = 40
"""With backoff doubling from 0.05 s up to 2 s: about 75 s without Redis before giving up."""
GATEWAY_RETRIES = 2
BACKOFF = ExponentialBackoff(cap=2.0, base=0.05)
_ERRORS = (ConnectionError, TimeoutError)
SENTINEL_TIMEOUT_S = 1.0
"""A Sentinel that does not answer within this is skipped for the next one."""
CONNECT_TIMEOUT_S = 2.0
KEEPALIVE = {
    name: value
    for name, value in (("TCP_KEEPIDLE", 5), ("TCP_KEEPINTVL", 2), ("TCP_KEEPCNT", 3))
    if hasattr(socket, name)
}
"""A silent peer is given up on after about 5 + 2 × 3 = 11 s."""


class _FollowingConnection(SentinelManagedConnection):  # type: ignore[misc]  # redis types skipped
    """Asks the Sentinels for the primary before every attempt to connect. redis-py asks only
    when the pool hands out a connection: a command whose connection broke under it (a worker's
    read of a job's flags when the primary died) retried on the address it had, the lost primary,
    until its retries ran out (redis-py issue #3874; `tests/integration/test_failover.py`)."""

    def _connect(self) -> socket.socket:
        if self.connection_pool.is_master:
            self.host, self.port = self.connection_pool.get_master_address()
        sock: socket.socket = super()._connect()
        return sock


class _AsyncFollowingConnection(AsyncSentinelConnection):  # type: ignore[misc]  # redis types skipped
    """`_FollowingConnection` for the gateway's asyncio clients."""

    async def _connect(self) -> None:
        if self.connection_pool.is_master:
            self.host, self.port = await self.connection_pool.get_master_address()
        await super()._connect()


def connect_events(settings: Settings, *, retries: int = WORKER_RETRIES) -> Redis | None:
    """A client of the event plane when it has a Redis of its own (`events_redis_url`), else None
    (the job store then uses the queues' Redis)."""
    return None if settings.events_redis_url is None else connect(settings.events_redis_url, retries=retries)


def connect(url: str, *, retries: int = WORKER_RETRIES) -> Redis:
    """A client of the Redis at `url`; for a `redis+cluster://` URL (the event plane only), a
    cluster client, which has the same commands for keys of one slot."""
    retry = Retry(BACKOFF, retries, _ERRORS)
    if _is_cluster(url):
        layout = parse_cluster_url(url)
        cluster: Redis = RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in layout.nodes],
            username=layout.username,
            password=layout.password,
            retry=retry,
            socket_connect_timeout=CONNECT_TIMEOUT_S,
        )
        return cluster
    if not _is_sentinel(url):
        return Redis.from_url(url, retry=retry, health_check_interval=15)
    target = parse_sentinel_url(url)
    sentinels = Sentinel(target.sentinels, sentinel_kwargs=_sentinel_options(target))
    return sentinels.master_for(
        target.service,
        connection_class=_FollowingConnection,
        retry=retry,
        health_check_interval=15,
        **_primary_options(target),
    )


GATEWAY_CONNECTIONS = 128
"""Redis connections one gateway uses at most; requests beyond wait for one (up to
`POOL_WAIT_S`) instead of failing. Streams share one subscriber connection (`EventFanout`)."""
POOL_WAIT_S = 20


class _BlockingSentinelPool(AsyncSentinelPool, BlockingConnectionPool):  # type: ignore[misc]  # redis types skipped
    """The primary's pool, bounded: a request waits for a free connection (redis-py lets
    `master_for` take the pool class)."""


def connect_async(url: str, *, retries: int = GATEWAY_RETRIES) -> AsyncRedis:
    """An asyncio client of the Redis at `url` (a cluster client for `redis+cluster://`: call
    `ready` before its first pub/sub)."""
    retry = AsyncRetry(BACKOFF, retries, _ERRORS)
    if _is_cluster(url):
        layout = parse_cluster_url(url)
        cluster: AsyncRedis = AsyncRedisCluster(
            startup_nodes=[AsyncClusterNode(host, port) for host, port in layout.nodes],
            username=layout.username,
            password=layout.password,
            retry=retry,
            socket_connect_timeout=CONNECT_TIMEOUT_S,
            max_connections=GATEWAY_CONNECTIONS,
        )
        return cluster
    if not _is_sentinel(url):
        pool = BlockingConnectionPool.from_url(
            url, max_connections=GATEWAY_CONNECTIONS, timeout=POOL_WAIT_S, retry=retry, health_check_interval=15
        )
        return AsyncRedis(connection_pool=pool)
    target = parse_sentinel_url(url)
    sentinels = AsyncSentinel(target.sentinels, sentinel_kwargs=_sentinel_options(target))
    return sentinels.master_for(
        target.service,
        connection_pool_class=_BlockingSentinelPool,
        connection_class=_AsyncFollowingConnection,
        max_connections=GATEWAY_CONNECTIONS,
        timeout=POOL_WAIT_S,
        retry=retry,
        health_check_interval=15,
        **_primary_options(target),
    )


async def ready(client: AsyncRedis) -> None:
    """A cluster client learns the cluster's layout before its first use (its pub/sub needs it)."""
    if isinstance(client, AsyncRedisCluster):
        await client.initialize()


def _is_cluster(url: str) -> bool:
    return url.lower().startswith(f"{CLUSTER_SCHEME}://")


def _is_sentinel(url: str) -> bool:
    return url.lower().startswith(f"{SENTINEL_SCHEME}://")


def _primary_options(target: SentinelUrl) -> dict[str, Any]:
    return {
        "db": target.db,
        "username": target.username,
        "password": target.password,
        "socket_connect_timeout": CONNECT_TIMEOUT_S,
        "socket_keepalive": True,
        "socket_keepalive_options": {getattr(socket, name): value for name, value in KEEPALIVE.items()},
    }


def _sentinel_options(target: SentinelUrl) -> dict[str, Any]:
    return {
        "username": target.sentinel_username,
        "password": target.sentinel_password,
        "socket_timeout": SENTINEL_TIMEOUT_S,
        "socket_connect_timeout": SENTINEL_TIMEOUT_S,
    }
