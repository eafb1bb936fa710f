"""`GET /v1/status`: the cluster as the operators' page at /status shows it, as JSON.

The live figures are read from Redis at each request, so every gateway replica gives the same
answer; `history` is the rolling series one replica records every `sample_interval_s`.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class WorkerStatus(BaseModel):
    """A live inference worker, as its last heartbeat describes it."""

    id: str
    model: str
    adapter: str = ""
    """The LoRA adapter it computes with now ("" for the base model)."""
    slots: int = Field(ge=1)
    """Jobs it can run at once."""
    busy: int = Field(ge=0)
    """Jobs it runs now."""
    tokens_per_s: float | None
    """Tokens it generated per second over its last `sample_interval_s`; null from a worker of a
    version that does not say."""
    jobs_done: int
    """Jobs it finished since it started (counted once checked)."""
    own_queue: int
    """Conversation turns waiting for this worker, which holds their KV state."""
    beat_age_s: float
    """Seconds since its last heartbeat (it counts as dead past THINKSTREAM_WORKER_TTL_S)."""


class ModelStatus(BaseModel):
    """One model: its queue and its workers."""

    name: str
    workers: int
    """Live inference workers holding it."""
    slots: int
    busy: int
    running: int
    """Its jobs being generated now."""
    waiting: int
    """Its jobs waiting for a worker, every priority (conversation turns waiting for their own
    worker are in that worker's `own_queue`)."""
    waiting_by_priority: dict[str, int]
    """`high`, `normal`, `low` (batch items are `low`)."""
    tokens_per_s: float
    """Its workers' tokens/s together."""


class JobInFlight(BaseModel):
    """A job being generated now."""

    id: str
    model: str
    worker: str
    priority: str
    origin: str
    """`interactive` or `batch`."""
    owner: str | None
    """The name of the API key that sent it (null without keys)."""
    attempt: int
    """1, or more when an earlier worker was lost."""
    running_s: float | None
    """Seconds since this run started."""


class StatusSample(BaseModel):
    """One point of the rolling series."""

    at: float
    """Epoch seconds, Redis's clock (every replica's points line up)."""
    tokens_per_s: float
    """Tokens generated per second by every live worker together."""
    waiting: int
    """Jobs waiting for a worker, every model and priority."""
    running: int
    """Jobs being generated."""


class StatusReport(BaseModel):
    """The whole cluster now, and its last `history_s`."""

    at: float
    """When this was read (epoch seconds, Redis's clock)."""
    sample_interval_s: float
    history_s: float
    workers: list[WorkerStatus]
    """By model, then id."""
    models: list[ModelStatus]
    """The configured models first, then any that only a live worker declares."""
    jobs_running: int
    """Every job being generated now (also those of a worker that just died, until another
    takes them over)."""
    jobs: list[JobInFlight]
    """The longest-running of them (at most 100), longest first."""
    checks_waiting: int
    """Finished answers waiting for their checks."""
    checkers: int
    """Live post-processing workers."""
    history: list[StatusSample]
    """Oldest first; empty until the first point."""
