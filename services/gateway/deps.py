"""Dependency aliases for route handlers; the objects themselves are built once in `create_app`.

The getters are `async def` though they never wait: FastAPI runs a plain `def` dependency in its
thread pool, a hop to a thread and back for an attribute lookup (two or three per request).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from redis.asyncio import Redis as AsyncRedis

from services.gateway.batches import BatchService
from services.gateway.chat import ChatService
from services.gateway.directory import ModelDirectory
from services.gateway.files import FileStore
from services.gateway.jobs import JobService
from services.gateway.metrics import GatewayMetrics
from shared.settings import Settings


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_redis(request: Request) -> AsyncRedis:
    redis: AsyncRedis = request.app.state.redis
    return redis


async def get_events(request: Request) -> AsyncRedis | None:
    """The event plane's own Redis (a cluster), if it has one (`THINKSTREAM_EVENTS_REDIS_URL`)."""
    events: AsyncRedis | None = getattr(request.app.state, "events", None)
    return events


async def get_jobs(request: Request) -> JobService:
    """The job service acting for the request's API key: it records the key as the owner of
    the jobs it queues and sees no other key's jobs."""
    return _jobs_of(request)


def _jobs_of(request: Request) -> JobService:
    jobs: JobService = request.app.state.jobs
    return jobs.for_owner(getattr(request.state, "key_id", None))


async def get_metrics(request: Request) -> GatewayMetrics:
    metrics: GatewayMetrics = request.app.state.metrics
    return metrics


async def get_chat(request: Request) -> ChatService:
    chat: ChatService = request.app.state.chat
    if getattr(request.state, "key_id", None) is None:
        return chat
    return chat.with_jobs(_jobs_of(request))  # keys on: over the key's own view of the jobs


async def get_models(request: Request) -> ModelDirectory:
    models: ModelDirectory = request.app.state.models
    return models


SettingsDep = Annotated[Settings, Depends(get_settings)]
RedisDep = Annotated[AsyncRedis, Depends(get_redis)]
EventsDep = Annotated[AsyncRedis | None, Depends(get_events)]
JobsDep = Annotated[JobService, Depends(get_jobs)]
MetricsDep = Annotated[GatewayMetrics, Depends(get_metrics)]
ChatDep = Annotated[ChatService, Depends(get_chat)]
ModelsDep = Annotated[ModelDirectory, Depends(get_models)]


async def get_files(request: Request) -> FileStore:
    files: FileStore = request.app.state.files
    return files


async def get_batches(request: Request) -> BatchService:
    batches: BatchService = request.app.state.batches
    return batches


async def get_owner(request: Request) -> str | None:
    """The API key id the request came with (set by the key check; None when keys are off):
    files and batches belong to it."""
    owner: str | None = getattr(request.state, "key_id", None)
    return owner


FilesDep = Annotated[FileStore, Depends(get_files)]
BatchesDep = Annotated[BatchService, Depends(get_batches)]
OwnerDep = Annotated[str | None, Depends(get_owner)]
