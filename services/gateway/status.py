"""The operators' view of the cluster (`GET /v1/status`, the page at /status).

Like /metrics, everything is read afresh from Redis, so any replica answers for the whole
cluster: the models and their live workers from the model directory (which reads the workers'
heartbeats, with their load), jobs in flight from the running-jobs table, queues from the
scheduler. The history comes from `StatusHistory`, which one replica records.

A worker of an older version, whose heartbeat carries no load, counts as one slot, busy while
the running-jobs table holds a job of it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import anyio
from redis import Redis

from services.gateway.directory import ModelDirectory, ServedModel
from services.runtime.heartbeat import POSTPROC, LiveWorker, live_workers
from services.store.jobs import JobStore
from services.store.queues import rq_queue
from services.store.scheduler import PRIORITIES
from shared import keys, stats
from shared.settings import Settings
from shared.status_api import JobInFlight, ModelStatus, StatusReport, StatusSample, WorkerStatus
from shared.text import decoded

JOBS_LISTED = 100
"""Jobs in flight listed by name (the longest-running); the rest are only counted."""


@dataclass(frozen=True)
class Snapshot:
    """The cluster at one moment."""

    at: float
    """Redis's clock (epoch seconds): every replica's samples line up on it."""
    models: list[ServedModel]
    """Each with its live workers: the configured models, then those only a worker declares."""
    running: dict[str, str]
    """Job id → the worker generating it."""
    waiting: dict[str, dict[str, int]]
    """Model → priority → jobs waiting for one of its workers."""
    own_queues: dict[str, int]
    """Worker id → conversation turns waiting for that worker."""
    jobs_done: dict[str, int]
    checks_waiting: int
    checkers: int

    @property
    def workers(self) -> list[LiveWorker]:
        return [worker for model in self.models for worker in model.workers]

    def busy(self, worker: LiveWorker) -> int:
        if worker.load is not None:
            return worker.load.busy
        return sum(1 for holder in self.running.values() if holder == worker.worker_id)

    def sample(self) -> StatusSample:
        """The point of the rolling series this moment makes."""
        rates = (w.load.tokens_per_s for w in self.workers if w.load is not None)
        return StatusSample(
            at=round(self.at, 3),
            tokens_per_s=round(sum(rates), 1),
            waiting=sum(sum(counts.values()) for counts in self.waiting.values()),
            running=len(self.running),
        )


class ClusterStatus:
    def __init__(self, redis: Redis, store: JobStore, directory: ModelDirectory, settings: Settings) -> None:
        self._redis = redis
        self._store = store
        self._directory = directory
        self._settings = settings

    async def snapshot(self) -> Snapshot:
        """Read the cluster: a handful of round trips, whatever the number of jobs."""
        models = await self._directory.served()
        return await anyio.to_thread.run_sync(self._read, models)

    def jobs_in_flight(self, snapshot: Snapshot) -> list[JobInFlight]:
        """The jobs of `snapshot.running`, longest-running first, at most `JOBS_LISTED`."""
        records = self._store.read_many(list(snapshot.running))
        records.sort(key=lambda r: r.started_at if r.started_at is not None else snapshot.at)
        return [
            JobInFlight(
                id=record.job_id,
                model=record.pool,
                worker=snapshot.running[record.job_id],
                priority=record.priority.value,
                origin=record.origin.value,
                owner=record.owner,
                attempt=record.attempt,
                running_s=round(max(snapshot.at - record.started_at, 0.0), 1) if record.started_at else None,
            )
            for record in records[:JOBS_LISTED]
        ]

    def _read(self, models: list[ServedModel]) -> Snapshot:
        redis, workers = self._redis, [w for model in models for w in model.workers]
        with redis.pipeline(transaction=False) as pipe:
            pipe.time()
            pipe.hgetall(keys.RUNNING_JOBS)
            pipe.llen(rq_queue(keys.POSTPROC_QUEUE, redis).key)
            for worker in workers:
                pipe.llen(rq_queue(keys.worker_queue(worker.worker_id), redis).key)
            (seconds, micros), running, checks, *own = pipe.execute()
        done = stats.read_worker_stats(redis, [w.worker_id for w in workers])
        scheduler = self._store.scheduler
        return Snapshot(
            at=int(seconds) + int(micros) / 1_000_000,
            models=models,
            running={decoded(job): decoded(worker) for job, worker in running.items()},
            waiting={m.name: {p.value: n for p, n in scheduler.waiting(m.name).items()} for m in models},
            own_queues={w.worker_id: int(n) for w, n in zip(workers, own, strict=True)},
            jobs_done={worker_id: row.jobs for worker_id, row in done.items()},
            checks_waiting=int(checks),
            checkers=len(live_workers(redis, POSTPROC, self._settings.worker_ttl_s)),
        )


def build_report(
    snapshot: Snapshot, jobs: list[JobInFlight], history: Sequence[StatusSample], settings: Settings
) -> StatusReport:
    """The JSON of `GET /v1/status`."""
    workers = [
        WorkerStatus(
            id=w.worker_id,
            model=w.model,
            adapter=w.adapter,
            slots=w.load.slots if w.load is not None else 1,
            busy=snapshot.busy(w),
            tokens_per_s=w.load.tokens_per_s if w.load is not None else None,
            jobs_done=snapshot.jobs_done.get(w.worker_id, 0),
            own_queue=snapshot.own_queues.get(w.worker_id, 0),
            beat_age_s=round(max(snapshot.at - w.beat_at, 0.0), 1),
        )
        for w in sorted(snapshot.workers, key=lambda w: (w.model, w.worker_id))
    ]
    holder = {w.worker_id: w.model for w in snapshot.workers}
    running = Counter(holder.get(worker) for worker in snapshot.running.values())
    models = []
    for model in snapshot.models:
        own = [w for w in workers if w.model == model.name]
        by_priority = snapshot.waiting.get(model.name, {})
        models.append(
            ModelStatus(
                name=model.name,
                workers=len(own),
                slots=sum(w.slots for w in own),
                busy=sum(w.busy for w in own),
                running=running[model.name],
                waiting=sum(by_priority.values()),
                waiting_by_priority={p.value: by_priority.get(p.value, 0) for p in PRIORITIES},
                tokens_per_s=round(sum(w.tokens_per_s or 0.0 for w in own), 1),
            )
        )
    return StatusReport(
        at=snapshot.at,
        sample_interval_s=settings.status_sample_interval_s,
        history_s=settings.status_history_s,
        workers=workers,
        models=models,
        jobs_running=len(snapshot.running),
        jobs=jobs,
        checks_waiting=snapshot.checks_waiting,
        checkers=snapshot.checkers,
        history=list(history),
    )
