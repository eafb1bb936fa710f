"""The gateway application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from redis import Redis
from redis.asyncio import Redis as AsyncRedis

from services.gateway.errors import install_error_handlers
from services.gateway.jobs import JobService
from services.gateway.routes import health, jobs, page
from services.gateway.tokens import PromptCounter, VocabPromptCounter
from shared.settings import Settings


def create_app(
    settings: Settings,
    *,
    redis: AsyncRedis | None = None,
    sync_redis: Redis | None = None,
    counter: PromptCounter | None = None,
) -> FastAPI:
    """Build the gateway. Tests pass their own Redis clients and prompt counter."""
    if settings.redis_url is None and (redis is None or sync_redis is None):
        raise ValueError("the gateway needs a Redis URL (THINKSTREAM_REDIS_URL or --redis-url)")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async_client = redis or AsyncRedis.from_url(settings.redis_url)  # type: ignore[arg-type]
        sync_client = sync_redis or Redis.from_url(settings.redis_url)  # type: ignore[arg-type]
        app.state.settings = settings
        app.state.redis = async_client
        app.state.counter = counter or VocabPromptCounter(settings)
        app.state.jobs = JobService(settings, async_client, sync_client, app.state.counter)
        try:
            yield
        finally:
            if redis is None:
                await async_client.aclose()
            if sync_redis is None:
                sync_client.close()

    app = FastAPI(
        title="thinkstream",
        summary="Questions in, live reasoning and checked answers out, on CPU.",
        version="0.1.0",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(jobs.router)
    app.include_router(page.router)
    return app
