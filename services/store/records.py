"""The typed views `JobStore` reads and writes: a job's record, a new job to submit, a run's
start, a sample's report, a pending requeue. Only `JobStore` writes the Redis state they stand
for."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from services.store.exceptions import JobGone
from services.store.queues import Origin
from services.store.scheduler import Priority
from shared.eventlog import Kept
from shared.schemas import ControlRequest, InferenceResult, JobSpec, JobStatus, Verdict


@dataclass(frozen=True)
class PendingRequeue:
    """A new run of a job about to be queued (`keys.PENDING_REQUEUES`), with an event plane of
    its own: what the sweeper needs to finish it if whoever wrote it died."""

    run: int
    kind: Literal["claim", "revise"]
    at: float
    reason: str = ""

    def dump(self) -> str:
        return json.dumps({"run": self.run, "kind": self.kind, "at": self.at, "reason": self.reason})

    @classmethod
    def load(cls, raw: bytes) -> PendingRequeue:
        row = json.loads(raw)
        return cls(run=int(row["run"]), kind=row["kind"], at=float(row["at"]), reason=row.get("reason", ""))


@dataclass(frozen=True)
class BatchLink:
    batch_id: str
    line: int


@dataclass(frozen=True)
class NewJob:
    spec: JobSpec
    runs: bool = True
    """False for a self-consistency job: it only collects its samples' answers and votes."""
    batch: BatchLink | None = None
    children: Sequence[str] = ()
    pool: str | None = None
    """The model whose workers run it, when not the one `submit` is given (a batch's items may
    name different models)."""


@dataclass(frozen=True)
class JobRecord:
    """A job's hash, typed."""

    job_id: str
    spec: JobSpec
    original: JobSpec
    """The spec as first asked (a revision's `spec` carries the feedback conversation)."""
    status: JobStatus
    owner: str | None
    origin: Origin
    pool: str
    """The model whose workers run it."""
    priority: Priority
    queue: str
    """The RQ queue its current run was put on (its owner's, or an idle worker's own)."""
    created_at: float
    enqueued_at: float
    run: int
    attempt: int
    ended: bool
    result: InferenceResult | None
    batch: BatchLink | None
    children: list[str]
    started_at: float | None = None
    """When its current run started on a worker (None before the first)."""

    @classmethod
    def parse(cls, job_id: str, raw: Mapping[bytes, bytes]) -> JobRecord:
        row = {k.decode(): v.decode() for k, v in raw.items()}
        if "spec" not in row:
            raise JobGone(f"job {job_id} has no record (it may have expired)")
        spec = JobSpec.model_validate_json(row["spec"])
        batch = BatchLink(row["batch"], int(row["batch_line"])) if row.get("batch") else None
        return cls(
            job_id=job_id,
            spec=spec,
            original=JobSpec.model_validate_json(row["original"]) if row.get("original") else spec,
            status=JobStatus(row.get("status", JobStatus.QUEUED.value)),
            owner=row.get("owner") or None,
            origin=Origin(row.get("origin", Origin.INTERACTIVE.value)),
            pool=row.get("pool", ""),
            priority=Priority(row.get("priority", Priority.NORMAL.value)),
            queue=row.get("queue", ""),
            created_at=float(row.get("created_at", spec.created_at)),
            enqueued_at=float(row.get("enqueued_at", spec.created_at)),
            run=int(row.get("run", 1)),
            attempt=int(row.get("attempt", 1)),
            ended="ended" in row,
            result=InferenceResult.model_validate_json(row["result"]) if row.get("result") else None,
            batch=batch,
            children=json.loads(row["children"]) if row.get("children") else [],
            started_at=float(row["started_at"]) if row.get("started_at") else None,
        )


@dataclass(frozen=True)
class SampleOutcome:
    """What a finished self-consistency sample reports to its parent."""

    answer: str
    key: str
    verdict: Verdict | Literal["error"]


@dataclass
class Start:
    """A worker's run of a job, or why it must not run."""

    outcome: Literal["started", "ended", "stale", "canceled", "expired"]
    record: JobRecord
    seq: int = 0
    waited_s: float = 0.0
    kept: Kept | None = None
    """For a job taken over from a lost worker: what its generation streamed so far."""
    control: ControlRequest | None = None
    """A control request sent for the job before it started (e.g. end the reasoning now)."""
