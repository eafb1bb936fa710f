"""`/v1/jobs`: submit a question, read the result, follow the event stream."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query
from fastapi.responses import StreamingResponse

from services.gateway.deps import JobsDep, MetricsDep
from services.gateway.exceptions import BadCursor, NothingMoreToStream
from services.gateway.frames import KEEPALIVE
from services.gateway.streams import stream_slot
from shared.schemas import JobAccepted, JobCancel, JobControlAccepted, JobControlRequest, JobRequest, JobView

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

MAX_SEQ = 2**63 - 1
KEEPALIVE_S = 15.0
"""A quiet stream gets a comment this often (as FastAPI's own SSE response sends one)."""
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
JobId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="The id returned by POST /v1/jobs")]
_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such job"},
    413: {"description": "The prompt does not fit the context window"},
    422: {"description": "Invalid request"},
}


@router.post("", status_code=202, response_model=JobAccepted, responses=_ERRORS)
async def submit_job(request: JobRequest, jobs: JobsDep) -> JobAccepted:
    """Queue a question. Follow its progress at `events_url`."""
    return await jobs.submit(request)


@router.get("/{job_id}", response_model=JobView, responses=_ERRORS)
async def get_job(job_id: JobId, jobs: JobsDep) -> JobView:
    """The job so far: status, reasoning, answer, usage, timings and checks."""
    return await jobs.get(job_id)


@router.delete("/{job_id}", status_code=202, response_model=JobCancel, responses=_ERRORS)
async def cancel_job(job_id: JobId, jobs: JobsDep) -> JobCancel:
    """Stop a job: a queued job never runs, a running one stops generating at its next flush of
    text (within 40 ms, decoding alone) and its stream ends with `canceled`. Cancelling a finished
    job changes nothing."""
    return JobCancel(id=job_id, status=await jobs.cancel(job_id))


@router.post(
    "/{job_id}/control",
    status_code=202,
    response_model=JobControlAccepted,
    responses={
        **_ERRORS,
        400: {"description": "Not a control: the message lists the actions"},
        409: {"description": "The job has no reasoning left to end (finished, answering, or never reasons)"},
    },
)
async def control_job(job_id: JobId, body: JobControlRequest, jobs: JobsDep) -> JobControlAccepted:
    """A live control of a queued or running job. `{"action": "end_reasoning"}` closes its
    reasoning at the worker's next flush of text and lets the model answer from what it has (the
    result's `reasoning_end` says `requested`); asked while the job waits, it answers without
    reasoning.
    Cancelling stays `DELETE`."""
    status = await jobs.control(job_id, body.action)
    return JobControlAccepted(id=job_id, action="end_reasoning", status=status)


def _cursor(value: str | None, name: str) -> int:
    if value is None or value == "":
        return 0
    if not value.isdigit() or int(value) > MAX_SEQ:
        raise BadCursor(f"{name} must be the seq of an event (a whole number from 0 to {MAX_SEQ}), not {value[:40]!r}")
    return int(value)


async def _stream_start(
    job_id: JobId,
    jobs: JobsDep,
    last_event_id: Annotated[str | None, Header(description="Resume after this seq")] = None,
    after: Annotated[
        str | None, Query(description="Same as Last-Event-ID, for clients that cannot set headers")
    ] = None,
) -> int:
    """Where the stream starts; 204 when the job has ended at or before it (nothing will come)."""
    ended = await jobs.require(job_id)  # 404 first, whatever the cursor
    start = max(_cursor(last_event_id, "Last-Event-ID"), _cursor(after, "after"))
    if ended is not None and start >= ended:
        raise NothingMoreToStream(job_id)
    return start


@router.get(
    "/{job_id}/events",
    response_class=StreamingResponse,
    responses={
        **_ERRORS,
        200: {"description": "The job's events", "content": {"text/event-stream": {}}},
        204: {"description": "The job ended at or before the cursor: nothing more will come"},
    },
    dependencies=[Depends(stream_slot)],
)
async def job_events(
    job_id: JobId,
    start: Annotated[int, Depends(_stream_start)],
    jobs: JobsDep,
    metrics: MetricsDep,
) -> StreamingResponse:
    """Server-Sent Events: one per stream event, `id` = seq, `event` = type, `data` = the event
    as JSON. Reconnect with `Last-Event-ID` (or `?after=`) to get exactly the rest; resuming at or
    after a finished job's last event answers 204, which tells a browser's EventSource to stop."""

    # The frames are built once per event by the fan-out and written as they are, several at
    # once when a client fell behind: FastAPI's own SSE response re-encodes every event for
    # every client and passes it through two tasks (bench/stream_plane.py measured the cost).
    async def frames() -> AsyncIterator[bytes]:
        with metrics.sse_client("jobs"):
            quiet_since = time.monotonic()
            async for batch in jobs.follow_batches(job_id, start):
                if batch:
                    quiet_since = time.monotonic()
                    yield b"".join(item.frame for item in batch)
                elif time.monotonic() - quiet_since >= KEEPALIVE_S:
                    quiet_since = time.monotonic()
                    yield KEEPALIVE

    return StreamingResponse(frames(), media_type="text/event-stream", headers=SSE_HEADERS)
