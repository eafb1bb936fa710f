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

WAIT_AT_MOST_S = 1
"""The longest an idle worker's main thread waits in Redis for a job before it runs Python again."""


class StoppableWorker(SimpleWorker):
    """An in-process RQ worker that remembers it was told to stop. RQ itself records a stop only
    when it arrives during a job; when idle it just leaves its loop."""

    stopping = False

    @property
    def dequeue_timeout(self) -> int:
        """Python runs a signal's handler in the main thread, but the kernel may hand the signal
        to any thread (the heartbeat's, RQ's pub/sub listener): the handler then waits until the
        main thread runs Python again. RQ's own wait for a job, `worker_ttl` - 15 = 405 s in one
        blocking call, left a post-processing worker deaf to a Ctrl-C about one time in five."""
        return WAIT_AT_MOST_S

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
