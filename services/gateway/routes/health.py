"""Liveness and readiness probes."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from redis.exceptions import RedisClusterException, RedisError

from services.gateway.deps import EventsDep, RedisDep, SettingsDep
from services.runtime.heartbeat import INFERENCE, POSTPROC, live_workers_async

router = APIRouter(tags=["health"])

EVENTS_PING_TIMEOUT_S = 2.0
"""How long a probe waits for the event plane (a cluster client retries a node that is gone)."""


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The gateway process is up."""
    return {"status": "ok"}


@router.get(
    "/readyz", responses={503: {"description": "Redis or the event plane unreachable, or no live worker or checker"}}
)
async def readyz(redis: RedisDep, events: EventsDep, settings: SettingsDep) -> JSONResponse:
    """Ready when Redis answers (and the event plane's own Redis, when it has one: every token
    goes through it), and at least one inference worker and one post-processing worker (the
    checker: without it every answer would wait in `checking` forever) have fresh heartbeats."""
    try:
        await redis.ping()
        workers = len(await live_workers_async(redis, INFERENCE, settings.worker_ttl_s))
        checkers = len(await live_workers_async(redis, POSTPROC, settings.worker_ttl_s))
    except RedisError as exc:
        down = {"status": "unavailable", "redis": f"unreachable: {exc}", "workers": 0, "checkers": 0}
        return JSONResponse(down, status_code=503)
    body: dict[str, object] = {"status": "ok", "redis": "ok", "workers": workers, "checkers": checkers}
    missing = [
        what
        for what, count in (("no live inference worker", workers), ("no live post-processing worker", checkers))
        if count == 0
    ]
    if events is not None:
        try:
            await asyncio.wait_for(events.ping(), EVENTS_PING_TIMEOUT_S)
            body["events"] = "ok"
        except (RedisError, RedisClusterException, TimeoutError) as exc:  # RedisClusterException: no node up
            body["events"] = f"unreachable: {exc or 'no answer'}"
            missing.append("the event plane's Redis (THINKSTREAM_EVENTS_REDIS_URL) does not answer")
    if missing:
        return JSONResponse({**body, "status": "unavailable", "reason": "; ".join(missing)}, status_code=503)
    return JSONResponse(body)
