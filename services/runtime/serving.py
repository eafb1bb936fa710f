"""Keeping an RQ worker serving until it is told to stop.

RQ leaves its loop in two cases that look alike from outside: a stop signal (SIGTERM, SIGINT),
and Redis gone for longer than the client's retries cover. The first must end the process; the
second must not, or every Redis restart would cost each worker its loaded model.
"""

from __future__ import annotations

import logging
import time
from types import FrameType

from redis import Redis
from redis.exceptions import RedisError
from rq import SimpleWorker

from shared import keys

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 30.0


class StoppableWorker(SimpleWorker):
    """An in-process RQ worker that remembers it was told to stop. RQ itself records a stop only
    when it arrives during a job; when idle it just leaves its loop."""

    stopping = False

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]


def serve(worker: StoppableWorker, redis: Redis, *, burst: bool, logging_level: str) -> None:
    """`worker.work()` until stopped by a signal (or the queue is empty, in burst mode); after a
    Redis outage, wait for Redis and start again, keeping the process and its worker id."""
    backoff = 1.0
    while True:
        try:
            worker.work(burst=burst, with_scheduler=False, logging_level=logging_level)
        except RedisError as exc:  # raised while (re)registering, before RQ's own loop
            log.error("worker %s cannot reach Redis: %s", worker.name, exc)
        if burst or worker.stopping:
            return
        log.error("worker %s left its loop (Redis unreachable?); restarting in %.0f s", worker.name, backoff)
        time.sleep(backoff)
        backoff = min(backoff * 2, MAX_BACKOFF_S)
        try:
            redis.ping()
            redis.delete(keys.rq_worker_key(worker.name))  # RQ refuses to register a name still "alive"
            backoff = 1.0
        except RedisError as exc:
            log.warning("Redis still unreachable: %s", exc)
