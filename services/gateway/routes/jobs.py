"""`/v1/jobs`: submit a question, read the result, follow the event stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query
from fastapi.sse import EventSourceResponse, ServerSentEvent

from services.gateway.deps import JobsDep, MetricsDep
from shared.schemas import JobAccepted, JobCancel, JobRequest, JobView

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

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
    """Stop a job: a queued job never runs, a running one stops generating within a token and its
    stream ends with `canceled`. Cancelling a finished job changes nothing."""
    return JobCancel(id=job_id, status=await jobs.cancel(job_id))


async def _existing_job(job_id: JobId, jobs: JobsDep) -> str:
    await jobs.require(job_id)
    return job_id


@router.get("/{job_id}/events", response_class=EventSourceResponse, responses=_ERRORS)
async def job_events(
    job_id: Annotated[str, Depends(_existing_job)],
    jobs: JobsDep,
    metrics: MetricsDep,
    last_event_id: Annotated[int | None, Header(ge=0, description="Resume after this seq")] = None,
    after: Annotated[
        int | None, Query(ge=0, description="Same as Last-Event-ID, for clients that cannot set headers")
    ] = None,
) -> AsyncIterator[ServerSentEvent]:
    """Server-Sent Events: one per stream event, `id` = seq, `event` = type, `data` = the event
    as JSON. Reconnect with `Last-Event-ID` to get exactly the rest."""
    start = max(last_event_id or 0, after or 0)
    with metrics.sse_client("jobs"):
        async for item in jobs.follow(job_id, start):
            yield ServerSentEvent(raw_data=item.data, event=item.type, id=str(item.seq))
