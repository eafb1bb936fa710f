"""Worker liveness, independent of RQ's own bookkeeping.

Each worker scores itself in a per-kind sorted set every `interval_s` and keeps a small info hash
alive with a TTL; `/readyz`, `GET /v1/models`, `/metrics` and the operators' page read them. An
inference worker's hash also carries its load (`load`: slots, jobs in them, tokens/s), read
afresh at each beat. While a job runs, the same thread refreshes RQ's worker and job heartbeats,
which a non-forking worker would otherwise skip during a long generation.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from pydantic import ValidationError
from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import RedisError

from services.runtime.load import LoadMeter
from shared import keys
from shared.models import WorkerModel
from shared.text import decoded
from shared.worker_load import WorkerLoad

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


def _beats(found: Sequence[tuple[bytes, float]]) -> list[tuple[str, float]]:
    """Live worker ids, each with its last beat (a `live_workers` query `withscores`)."""
    return [(decoded(worker_id), float(beat_at)) for worker_id, beat_at in found]


@dataclass(frozen=True)
class LiveWorker:
    """A live inference worker as its heartbeat describes it."""

    worker_id: str
    model: str
    declaration: WorkerModel | None
    """None for a worker that declares only its model's name (an older version)."""
    adapter: str
    """The adapter scope it computes with now ("" for the base model)."""
    beat_at: float = 0.0
    """When it last beat (epoch seconds, its own clock)."""
    load: WorkerLoad | None = None
    """Its slots, the jobs in them and its tokens/s at that beat; None from an older version."""


_FIELDS = ("model", "declaration", "adapter", "load")


def _live_worker(worker_id: str, beat_at: float, values: Sequence[bytes | None]) -> LiveWorker | None:
    model, declaration, adapter, load = (decoded(v) if v is not None else None for v in values)
    if model is None:  # its hash expired between the two reads
        return None
    try:
        declared = WorkerModel.model_validate_json(declaration) if declaration else None
    except ValidationError:
        log.warning("worker %s declares its model in a form this version cannot read", worker_id)
        declared = None
    try:
        reading = WorkerLoad.model_validate_json(load) if load else None
    except ValidationError:
        log.warning("worker %s reports its load in a form this version cannot read", worker_id)
        reading = None
    return LiveWorker(worker_id, model, declared, adapter or "", beat_at=beat_at, load=reading)


def inference_workers(redis: Redis, ttl_s: float) -> list[LiveWorker]:
    """The live inference workers and what each holds and does."""
    beats = _beats(redis.zrangebyscore(keys.live_workers_key(INFERENCE), time.time() - ttl_s, "+inf", withscores=True))
    with redis.pipeline(transaction=False) as pipe:
        for worker_id, _ in beats:
            pipe.hmget(keys.worker_key(worker_id), _FIELDS)
        rows = pipe.execute()
    workers = (_live_worker(worker_id, at, row) for (worker_id, at), row in zip(beats, rows, strict=True))
    return [w for w in workers if w is not None]


async def inference_workers_async(redis: AsyncRedis, ttl_s: float) -> list[LiveWorker]:
    """`inference_workers` for the gateway's asynchronous client."""
    found = await redis.zrangebyscore(keys.live_workers_key(INFERENCE), time.time() - ttl_s, "+inf", withscores=True)
    beats = _beats(found)
    async with redis.pipeline(transaction=False) as pipe:
        for worker_id, _ in beats:
            pipe.hmget(keys.worker_key(worker_id), _FIELDS)
        rows = await pipe.execute()
    workers = (_live_worker(worker_id, at, row) for (worker_id, at), row in zip(beats, rows, strict=True))
    return [w for w in workers if w is not None]


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
        status: Callable[[], Mapping[str, str | int | float]] | None = None,
        load: LoadMeter | None = None,
    ) -> None:
        self._redis = redis
        self._kind = kind
        self._worker_id = worker_id
        self._info = dict(info)
        self._interval_s = interval_s
        self._ttl_s = ttl_s
        self._during_job = during_job
        self._housekeeping = housekeeping
        self._status = status
        """Fields that change while the worker runs (the adapter it computes with), read at each beat."""
        self._load = load
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
            info = {**self._info, **(self._status() if self._status is not None else {})}
            if self._load is not None:
                info["load"] = self._load.reading().model_dump_json()
            pipe.hset(keys.worker_key(self._worker_id), mapping=info)
            pipe.expire(keys.worker_key(self._worker_id), max(1, int(self._ttl_s)))
            pipe.execute()

    def _refresh_jobs(self) -> None:
        """The running jobs' own heartbeats. Their failure must never stop the worker's: a job
        that ends while it is refreshed (RQ deletes its record at once) raised NoSuchJobError
        here, the thread died, and the worker was taken for dead 10 s later with every job it
        ran after handed to another worker."""
        assert self._during_job is not None
        try:
            self._during_job()
        except RedisError:
            raise
        except Exception:
            log.exception("refreshing the running jobs' heartbeats failed; the worker's goes on")

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
                    self._refresh_jobs()
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
