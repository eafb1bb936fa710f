"""Worker liveness, independent of RQ's own bookkeeping.

Each worker scores itself in a per-kind sorted set every `interval_s` and keeps a small info hash
alive with a TTL; `/readyz` and `GET /v1/models` read them. While a job runs, the same thread
refreshes RQ's worker and job heartbeats, which a non-forking worker would otherwise skip
during a long generation.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping

from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import RedisError

from shared import keys
from shared.text import decoded

log = logging.getLogger(__name__)

INFERENCE = "inference"
POSTPROC = "postproc"


def live_workers(redis: Redis, kind: str, ttl_s: float) -> list[str]:
    """Ids of the workers of `kind` whose last heartbeat is at most `ttl_s` old: the one rule for
    "alive", for every reader."""
    return [decoded(w) for w in redis.zrangebyscore(keys.live_workers_key(kind), time.time() - ttl_s, "+inf")]


async def live_workers_async(redis: AsyncRedis, kind: str, ttl_s: float) -> list[str]:
    """`live_workers` for the gateway's asynchronous client."""
    found = await redis.zrangebyscore(keys.live_workers_key(kind), time.time() - ttl_s, "+inf")
    return [decoded(w) for w in found]


class Heartbeat:
    def __init__(
        self,
        redis: Redis,
        *,
        kind: str,
        worker_id: str,
        info: Mapping[str, str | int | float],
        interval_s: float,
        ttl_s: float,
        during_job: Callable[[], None] | None = None,
        housekeeping: Callable[[], object] | None = None,
    ) -> None:
        self._redis = redis
        self._kind = kind
        self._worker_id = worker_id
        self._info = dict(info)
        self._interval_s = interval_s
        self._ttl_s = ttl_s
        self._during_job = during_job
        self._housekeeping = housekeeping
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"heartbeat-{worker_id}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self.beat()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self._interval_s * 2)
        try:
            with self._redis.pipeline() as pipe:
                pipe.zrem(keys.live_workers_key(self._kind), self._worker_id)
                pipe.delete(keys.worker_key(self._worker_id))
                pipe.execute()
        except RedisError:
            log.warning("could not deregister worker %s", self._worker_id)

    def beat(self) -> None:
        with self._redis.pipeline() as pipe:
            pipe.zadd(keys.live_workers_key(self._kind), {self._worker_id: time.time()})
            pipe.hset(keys.worker_key(self._worker_id), mapping=self._info)
            pipe.expire(keys.worker_key(self._worker_id), max(1, int(self._ttl_s)))
            pipe.execute()

    def _loop(self) -> None:
        # After Redis was unreachable every worker's heartbeat looks old; housekeeping (which
        # judges other workers by theirs) waits until they all had a full TTL to beat again.
        connected_since = time.monotonic()
        while not self._stop.wait(self._interval_s):
            try:
                began = time.monotonic()
                self.beat()
                if time.monotonic() - began > self._interval_s:  # Redis was away (the client retried)
                    connected_since = float("inf")
                if self._during_job is not None:
                    self._during_job()
            except RedisError as exc:
                log.warning("heartbeat failed: %s", exc)
                connected_since = float("inf")
                continue
            connected_since = min(connected_since, time.monotonic())
            if self._housekeeping is not None and time.monotonic() - connected_since >= self._ttl_s:
                try:
                    self._housekeeping()
                except Exception:  # housekeeping must never stop the heartbeat
                    log.exception("housekeeping failed")
