"""The gateway application."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import Depends, FastAPI
from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import RedisError

from services.gateway.access import AccessControl
from services.gateway.auth import documented_key
from services.gateway.batch_results import BatchResults
from services.gateway.batches import BatchService
from services.gateway.body_limit import BodySizeLimit, Limit
from services.gateway.chat import ChatOptions, ChatService
from services.gateway.directory import ModelDirectory
from services.gateway.drain import Drain
from services.gateway.errors import install_error_handlers
from services.gateway.fanout import EventFanout
from services.gateway.files import FileStore
from services.gateway.frames import stream_item
from services.gateway.jobs import JobService
from services.gateway.memory import MemoryBudget
from services.gateway.metrics import GatewayMetrics
from services.gateway.ollama_errors import OllamaErrorShape
from services.gateway.queue_updates import QueueUpdates
from services.gateway.routes import batches, chat, files, health, jobs, metrics, models, ollama, page, status
from services.gateway.status import ClusterStatus
from services.gateway.status_history import StatusHistory, StatusSampler
from services.gateway.streams import StreamSlots
from services.gateway.tokens import PromptCounter, VocabPromptCounter
from services.gateway.unserved import UnservedJobs
from services.runtime.redis_client import GATEWAY_RETRIES, connect, connect_async, connect_events, ready
from services.store.batches import BatchLedger
from services.store.usage import StorageUsage
from shared.apikeys import ApiKeys
from shared.settings import Settings

log = logging.getLogger(__name__)

SHUTDOWN_WAIT_S = 0.5
"""How long shutting down waits for the background tasks it cancelled."""


def create_app(
    settings: Settings,
    *,
    redis: AsyncRedis | None = None,
    sync_redis: Redis | None = None,
    counter: PromptCounter | None = None,
    drain: Drain | None = None,
) -> FastAPI:
    """Build the gateway. Tests pass their own Redis clients and prompt counter (then used for
    every model); the server passes the drain it starts on shutdown."""
    if settings.redis_url is None and (redis is None or sync_redis is None):
        raise ValueError("the gateway needs a Redis URL (THINKSTREAM_REDIS_URL or --redis-url)")
    api_keys = ApiKeys.from_settings(settings)  # a malformed entry stops the start, not a request

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async_client = redis or connect_async(settings.redis_url)  # type: ignore[arg-type]
        sync_client = sync_redis or connect(settings.redis_url, retries=GATEWAY_RETRIES)  # type: ignore[arg-type]
        app.state.settings = settings
        app.state.redis = async_client
        app.state.models = ModelDirectory(
            settings,
            async_client,
            (lambda _: counter) if counter is not None else (lambda spec: VocabPromptCounter(spec, settings.n_ctx)),
        )
        await app.state.models.load()
        # The event plane, when it has a Redis of its own: the streams read and follow it.
        events = connect_async(settings.events_redis_url) if settings.events_redis_url else None
        sync_events = connect_events(settings, retries=GATEWAY_RETRIES)
        if events is not None:
            with contextlib.suppress(RedisError):  # it may come later; the streams retry
                await ready(events)
        app.state.events = events
        fanout = EventFanout(events or async_client, stream_item)
        budget = MemoryBudget(async_client, settings)
        app.state.jobs = JobService(
            settings,
            async_client,
            sync_client,
            app.state.models,
            fanout,
            budget,
            api_keys=api_keys,
            events=events,
            sync_events=sync_events,
        )
        chat_options = ChatOptions(
            effort_budgets=settings.effort_budgets,
            non_streaming_max_reasoning_tokens=settings.non_streaming_max_reasoning_tokens,
            verdict_in_content=settings.chat_verdict_in_content,
        )
        app.state.chat = ChatService(
            app.state.jobs,
            cancel_on_disconnect=settings.cancel_on_disconnect,
            drain=drain or Drain(),
            options=chat_options,
        )
        app.state.metrics = GatewayMetrics(settings, sync_client)
        app.state.stream_slots = StreamSlots(settings)
        results = BatchResults(async_client)
        app.state.files = FileStore(
            settings,
            async_client,
            results,
            BatchLedger(sync_client, settings),
            StorageUsage(sync_client, settings),
            budget,
        )
        app.state.batches = BatchService(settings, async_client, app.state.jobs, app.state.files, results)
        if settings.warm_up:  # the first request would pay for these: each template's first render, connections
            app.state.models.warm_up()
            with contextlib.suppress(RedisError):  # Redis may come later: /readyz says so meanwhile
                await async_client.ping()
                await anyio.to_thread.run_sync(sync_client.ping)
        app.state.status = ClusterStatus(sync_client, app.state.jobs.store, app.state.models, settings)
        app.state.status_history = StatusHistory(sync_client, settings)
        background = [
            asyncio.create_task(app.state.models.run()),
            asyncio.create_task(budget.run()),
            asyncio.create_task(QueueUpdates(app.state.jobs.store, settings, app.state.models.pools).run()),
            asyncio.create_task(UnservedJobs(settings, sync_client, app.state.models.pools, events=sync_events).run()),
            asyncio.create_task(StatusSampler(app.state.status_history, app.state.status.snapshot, settings).run()),
        ]
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            # A task cancelled inside a Redis call may not end at once (fakeredis can hold it
            # there): shutting down waits for the tasks a moment, not for ever.
            _, stuck = await asyncio.wait(background, timeout=SHUTDOWN_WAIT_S)
            if stuck:
                log.warning("%d background task(s) did not stop within %.1f s: %s", len(stuck), SHUTDOWN_WAIT_S, stuck)
            await fanout.close()
            if events is not None:
                await events.aclose()
            if sync_events is not None:
                sync_events.close()
            if redis is None:
                await async_client.aclose()
            if sync_redis is None:
                sync_client.close()

    app = FastAPI(
        title="thinkstream",
        summary="Questions in, live reasoning and checked answers out, on CPU.",
        version="0.1.0",
        lifespan=lifespan,
        # The docs are the gateway's own page (routes/page.py): FastAPI's load scripts from a CDN.
        docs_url=None,
        redoc_url=None,
        # A redirect to the slashed path would be built from the request's Host.
        redirect_slashes=False,
        # Shows the key scheme in the OpenAPI document; `AccessControl` does the checking.
        dependencies=[Depends(documented_key)],
    )
    app.state.api_keys = api_keys
    upload = Limit(settings.batch_max_bytes + (1 << 20), "split the batch file (THINKSTREAM_BATCH_MAX_BYTES)")
    app.add_middleware(
        BodySizeLimit,
        limit=Limit(settings.max_body_bytes, "send a shorter prompt or fewer messages (THINKSTREAM_MAX_BODY_BYTES)"),
        overrides={"/v1/files": upload, "/v1/batches": upload},  # a batch file may be larger; 1 MiB for its form
        body_timeout_s=settings.body_timeout_s,
    )
    # Added last, so it runs first: a caller without a valid key is refused before any body is read.
    app.add_middleware(AccessControl, keys=api_keys, settings=settings)
    # Outermost: Ollama's routes answer every refusal, the key check's too, in Ollama's shape.
    app.add_middleware(OllamaErrorShape)
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(jobs.router)
    app.include_router(chat.router)
    app.include_router(models.router)
    app.include_router(page.router)
    app.include_router(metrics.router)
    app.include_router(status.router)
    app.include_router(files.router)
    app.include_router(batches.router)
    app.include_router(ollama.router)
    return app
