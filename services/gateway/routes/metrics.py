"""`/metrics`: the cluster's figures for Prometheus."""

from __future__ import annotations

import anyio
from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from services.gateway.deps import MetricsDep

router = APIRouter(tags=["metrics"])


@router.get("/metrics", response_class=Response)
async def metrics(metrics: MetricsDep) -> Response:
    """Queues, jobs, check verdicts and workers of the whole cluster, plus this gateway's open
    streams, in Prometheus's text format. Metric names are listed in docs/metrics.md."""
    body = await anyio.to_thread.run_sync(metrics.render)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
