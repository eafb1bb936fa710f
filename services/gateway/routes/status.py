"""`GET /v1/status`: the cluster for operators, as the page at /status shows it."""

from __future__ import annotations

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError

from services.gateway.errors import error_body
from services.gateway.status import ClusterStatus, build_report
from services.gateway.status_history import StatusHistory
from shared.status_api import StatusReport

router = APIRouter(prefix="/v1", tags=["status"])


@router.get(
    "/status",
    response_model=StatusReport,
    responses={
        403: {"description": "With API keys: the key is not listed in THINKSTREAM_OPERATOR_KEYS"},
        503: {"description": "Redis unreachable"},
    },
)
async def status(request: Request) -> StatusReport | JSONResponse:
    """Live inference workers (model, slots in use, tokens/s), each model's queue by priority,
    the jobs in flight, the checks' queue, and the last 15 minutes of throughput and queue depth
    (`history`, the same from every gateway). With API keys, only operators' keys may read it
    (THINKSTREAM_OPERATOR_KEYS): it names workers, hosts and every key's jobs."""
    cluster: ClusterStatus = request.app.state.status
    history: StatusHistory = request.app.state.status_history
    try:
        snapshot = await cluster.snapshot()
        jobs = await anyio.to_thread.run_sync(cluster.jobs_in_flight, snapshot)
        samples = await anyio.to_thread.run_sync(history.samples, snapshot.at)
    except RedisError as exc:
        message = f"the gateway cannot read Redis: {exc}; try again in a few seconds"
        body = error_body(message, "server_error", "unavailable")
        return JSONResponse(body, status_code=503, headers={"Retry-After": "5"})
    return build_report(snapshot, jobs, samples, request.app.state.settings)
