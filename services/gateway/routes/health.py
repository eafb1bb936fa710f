"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError

from services.gateway.deps import RedisDep, SettingsDep
from services.runtime.heartbeat import INFERENCE, POSTPROC, live_workers_async

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The gateway process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Redis unreachable, or no live worker or checker"}})
async def readyz(redis: RedisDep, settings: SettingsDep) -> JSONResponse:
    """Ready when Redis answers, at least one inference worker and one post-processing worker
    (the checker: without it every answer would wait in `checking` forever) have fresh heartbeats."""
    try:
        await redis.ping()
        workers = len(await live_workers_async(redis, INFERENCE, settings.worker_ttl_s))
        checkers = len(await live_workers_async(redis, POSTPROC, settings.worker_ttl_s))
    except RedisError as exc:
        body = {"status": "unavailable", "redis": f"unreachable: {exc}", "workers": 0, "checkers": 0}
        return JSONResponse(body, status_code=503)
    missing = [
        what
        for what, count in (("no live inference worker", workers), ("no live post-processing worker", checkers))
        if count == 0
    ]
    body = {"status": "ok", "redis": "ok", "workers": workers, "checkers": checkers}
    if missing:
        return JSONResponse({**body, "status": "unavailable", "reason": "; ".join(missing)}, status_code=503)
    return JSONResponse(body)
