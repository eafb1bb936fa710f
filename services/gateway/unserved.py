"""Jobs for a model that no live worker serves: they wait a short while, then fail saying why.

A job for a known model is accepted even when none of its workers is alive (one may be starting:
a pod scheduled, a process loading its model). Nothing else would ever end such a job: the
queue-wait limit is checked by the worker that starts a job. So each gateway looks, every
second, at the models it serves: a model none of whose workers has been seen alive for
`model_wait_s` gets its waiting jobs that are older than that taken out of its queue and failed
with `model_unavailable`. Several gateways may do it at once; a job ends once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

import anyio
from redis import Redis
from redis.exceptions import RedisError

from services.runtime.heartbeat import inference_workers
from services.store.jobs import JobStore
from services.store.scheduler import PRIORITIES
from shared import keys
from shared.settings import Settings
from shared.text import decoded

log = logging.getLogger(__name__)

CODE = "model_unavailable"
CHECK_EVERY_S = 1.0


class UnservedJobs:
    def __init__(
        self,
        settings: Settings,
        redis: Redis,
        pools: Callable[[], Iterable[str]],
        clock: Callable[[], float] = time.time,
        events: Redis | None = None,
    ) -> None:
        """`pools`: the models whose queues to watch (the configured ones and any this gateway
        queued jobs for); `events`: the event plane's client, when it has its own Redis."""
        self._settings = settings
        self._redis = redis
        self._store = JobStore(redis, settings, events)
        self._pools = pools
        self._clock = clock
        self._seen: dict[str, float] = {}
        """When a worker of each model was last seen alive (from this gateway's start on)."""
        self._started = clock()

    def sweep(self) -> list[str]:
        """Fail the jobs that waited too long for a model without workers; returns their ids."""
        now = self._clock()
        wait_s = self._settings.model_wait_s
        alive = {worker.model for worker in inference_workers(self._redis, self._settings.worker_ttl_s)}
        failed = []
        for pool in set(self._pools()):
            if pool in alive:
                self._seen[pool] = now
                continue
            if now - self._seen.get(pool, self._started) < wait_s:
                continue
            for priority in PRIORITIES:
                key = keys.priority_waiting_key(pool, priority.value)
                for rq_id in self._redis.zrangebyscore(key, "-inf", now - wait_s):
                    job_id = decoded(rq_id).split("-", 1)[0]
                    if self._store.withdraw(job_id, CODE, _message(pool, wait_s)):
                        failed.append(job_id)
        if failed:
            log.warning("failed %d job(s) waiting for models without a live worker", len(failed))
        return failed

    async def run(self) -> None:
        """Sweep every second until cancelled (the gateway's lifespan runs it)."""
        while True:
            try:
                await anyio.to_thread.run_sync(self.sweep)
            except RedisError as exc:
                log.warning("could not check for jobs of models without workers: %s", exc)
            await anyio.sleep(CHECK_EVERY_S)


def _message(pool: str, wait_s: float) -> str:
    return (
        f"no worker serving the model {pool!r} has been alive for {wait_s:.0f} s "
        "(THINKSTREAM_MODEL_WAIT_S), so the job was not run: start one "
        f"(thinkstream worker --model {pool}) or ask another model (GET /v1/models)"
    )
