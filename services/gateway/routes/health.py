"""Liveness and readiness probes."""

from __future__ import annotations

import time

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError

from services.gateway.deps import RedisDep, SettingsDep
from shared import keys

router = APIRouter(tags=["health"])

INFERENCE_KIND = "inference"


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The gateway process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Redis unreachable or no live worker"}})
async def readyz(redis: RedisDep, settings: SettingsDep) -> JSONResponse:
    """Ready when Redis answers and at least one inference worker has a fresh heartbeat."""
    try:
        await redis.ping()
        workers = await redis.zcount(keys.live_workers_key(INFERENCE_KIND), time.time() - settings.worker_ttl_s, "+inf")
    except RedisError as exc:
        return JSONResponse({"status": "unavailable", "redis": f"unreachable: {exc}", "workers": 0}, status_code=503)
    if workers == 0:
        return JSONResponse(
            {"status": "unavailable", "redis": "ok", "workers": 0, "reason": "no live inference worker"},
            status_code=503,
        )
    return JSONResponse({"status": "ok", "redis": "ok", "workers": workers})
