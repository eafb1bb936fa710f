"""Dependency aliases for route handlers; the objects themselves are built once in `create_app`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from redis.asyncio import Redis as AsyncRedis

from services.gateway.jobs import JobService
from services.gateway.tokens import PromptCounter
from shared.settings import Settings


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_redis(request: Request) -> AsyncRedis:
    redis: AsyncRedis = request.app.state.redis
    return redis


def get_jobs(request: Request) -> JobService:
    jobs: JobService = request.app.state.jobs
    return jobs


def get_counter(request: Request) -> PromptCounter:
    counter: PromptCounter = request.app.state.counter
    return counter


SettingsDep = Annotated[Settings, Depends(get_settings)]
RedisDep = Annotated[AsyncRedis, Depends(get_redis)]
JobsDep = Annotated[JobService, Depends(get_jobs)]
CounterDep = Annotated[PromptCounter, Depends(get_counter)]
