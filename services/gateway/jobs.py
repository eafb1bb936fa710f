"""Accepting jobs, reading them back and following their event streams."""

from __future__ import annotations

import asyncio
import copy
import functools
import logging
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Sequence

import anyio
from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import RedisError

from services.gateway.backpressure import retry_after_s
from services.gateway.budget_message import budget_message
from services.gateway.directory import ModelDirectory, Route
from services.gateway.exceptions import QueueBusy, QueueUnavailable
from services.gateway.fanout import EventFanout
from services.gateway.fitting import fit_conversation
from services.gateway.frames import StreamItem, stream_item
from services.gateway.memory import MemoryBudget
from services.store.exceptions import JobGone, NotReplicated, QueueFull
from services.store.jobs import JobStore, samples_of
from services.store.queues import Origin
from services.store.records import NewJob
from services.store.scheduler import Priority
from shared import eventlog, keys
from shared.apikeys import ApiKeys
from shared.conversation import conversation_key, model_messages
from shared.exceptions import JobNotFound, UnsupportedParameter
from shared.schemas import (
    CONTROL_ACTIONS,
    TERMINAL_EVENT_TYPES,
    ChatMessage,
    JobAccepted,
    JobRequest,
    JobSpec,
    JobStatus,
    JobView,
    parse_event,
)
from shared.settings import Settings

log = logging.getLogger(__name__)

ANSWER_SHARE = 4
"""A default reasoning budget leaves at least 1/ANSWER_SHARE of `max_tokens` for the answer."""
SAMPLE_TEMPERATURE = 0.7
"""Temperature of self-consistency samples when the request asked for greedy decoding."""
STREAM_OUTAGE_S = 120.0
"""How long a stream waits for Redis to come back before it gives up."""
IDLE_RESYNC_S = 5.0
"""How long a follower waits on pub/sub before re-reading the log (covers a dropped message)."""
INLINE_FIT_CHARS = 2000
"""A conversation of up to this many characters (and no tools) is fitted on the event loop:
counting its tokens takes about 0.5 ms, less than the hop to a thread and back (about 0.8 ms of
a first token on a busy 2-core node). A longer one is fitted in a thread, so its tokenizing
does not hold up the other requests and streams."""


class JobService:
    def __init__(
        self,
        settings: Settings,
        redis: AsyncRedis,
        sync_redis: Redis,
        models: ModelDirectory,
        fanout: EventFanout[StreamItem] | None = None,
        budget: MemoryBudget | None = None,
        api_keys: ApiKeys | None = None,
        events: AsyncRedis | None = None,
        sync_events: Redis | None = None,
    ) -> None:
        """`events`, `sync_events`: the event plane's clients, when it has its own Redis."""
        self._settings = settings
        self._redis = redis
        self._sync = sync_redis
        self._store = JobStore(sync_redis, settings, sync_events)
        self._events = events or redis
        """Where the jobs' records are."""
        self._fanout = fanout or EventFanout(self._events, stream_item)
        self._budget = budget or MemoryBudget(redis, settings)
        self._models = models
        self._owner: str | None = None
        self._api_keys = api_keys or ApiKeys()

    @property
    def store(self) -> JobStore:
        return self._store

    def for_owner(self, owner: str | None) -> JobService:
        """This service acting for one API key (`request.state.key_id`): the jobs it queues
        record the key as their owner and count against its queued-jobs limit, and jobs of other
        keys look missing (404, not 403: a stranger's job id is not even confirmed). `None`
        (keys off) sees every job."""
        view = copy.copy(self)
        view._owner = owner
        return view

    @property
    def owner(self) -> str | None:
        return self._owner

    def _visible(self, owner: bytes | None) -> bool:
        return self._owner is None or owner == self._owner.encode()

    @property
    def models(self) -> ModelDirectory:
        return self._models

    async def route(self, requested: str | None) -> Route:
        """The model (and adapter) a request's `model` names; raises `ModelNotFound`."""
        try:
            return await self._models.resolve(requested)
        except RedisError as exc:
            raise QueueUnavailable(f"the job queue is unavailable: {exc}") from exc

    async def submit(self, request: JobRequest, route: Route | None = None) -> JobAccepted:
        """Fit the conversation into the context of the model the request names (or `route`),
        route it, queue it for that model's workers; raises `ModelNotFound`, `PromptTooLong`,
        `QueueFull` or `KeyQueueFull` instead of accepting a job that cannot run or would wait
        too long. A self-consistency request queues all its samples or none."""
        route = route or await self.route(request.model)
        spec = await self.plan(request, route)
        priority = Priority(self._api_keys.policy(self._owner).resolve(request.priority))
        if spec.samples > 1:
            jobs = self._with_samples(spec)
            queue = None
        else:
            jobs = [NewJob(spec)]
            try:
                queue = await self._route(model_messages(request.chat()), route)
            except RedisError as exc:
                raise QueueUnavailable(f"the job queue is unavailable: {exc}") from exc
        position = await self._submit(jobs, Origin.INTERACTIVE, priority, queue, route.pool)
        return accepted(spec, position)

    async def submit_batch(self, jobs: list[NewJob]) -> int:
        """Queue the items of a batch (all or none, each for its `pool`'s workers), at low
        priority: behind people's questions."""
        return await self._submit(jobs, Origin.BATCH, Priority.LOW, None, self._models.default)

    async def _submit(
        self, jobs: list[NewJob], origin: Origin, priority: Priority, queue: str | None, pool: str
    ) -> int:
        await self._budget.check()
        submit = functools.partial(
            self._store.submit,
            jobs,
            owner=self._owner,
            origin=origin,
            pool=pool,
            priority=priority,
            queue_name=queue,
        )
        try:
            return await anyio.to_thread.run_sync(submit)
        except QueueFull as exc:
            excess = exc.waiting + exc.wanted - exc.limit
            retry = await anyio.to_thread.run_sync(
                functools.partial(retry_after_s, self._sync, excess=excess, worker_ttl_s=self._settings.worker_ttl_s)
            )
            raise QueueBusy(str(exc), exc.waiting, retry) from exc
        except NotReplicated as exc:
            raise QueueUnavailable(str(exc)) from exc
        except RedisError as exc:
            raise QueueUnavailable(f"the job queue is unavailable: {exc}") from exc

    def _with_samples(self, spec: JobSpec) -> list[NewJob]:
        """Self-consistency: the job the client follows only collects; each sample is a job of
        its own on the shared queue, so several workers answer in parallel. Samples need
        diversity: a greedy request samples at `SAMPLE_TEMPERATURE`, each with its own seed."""
        base_seed = spec.params.seed if spec.params.seed is not None else secrets.randbelow(2**30)
        seeds = [base_seed + index for index in range(spec.samples)]
        ids = [uuid.uuid4().hex for _ in range(spec.samples)]
        children = samples_of(spec, seeds, spec.params.temperature or SAMPLE_TEMPERATURE, ids)
        return [NewJob(spec, runs=False, children=ids), *(NewJob(child) for child in children)]

    async def plan(self, request: JobRequest, route: Route) -> JobSpec:
        """The job a request becomes for the model of `route`, its conversation fitted to that
        model's context with its own vocabulary and template (raises `PromptTooLong`). Nothing
        is stored: a batch plans every item before queueing any."""
        messages = model_messages(request.chat())
        settings = self._settings
        counter = route.counter
        fit = functools.partial(
            fit_conversation,
            messages,
            counter.count,
            n_ctx=counter.n_ctx,
            wanted=request.max_tokens or settings.default_max_tokens,
            needed=request.max_tokens or settings.min_answer_tokens,
        )
        fitted = fit() if _fits_inline(messages) else await anyio.to_thread.run_sync(fit)
        max_tokens = request.max_tokens or min(settings.default_max_tokens, counter.n_ctx - fitted.prompt_tokens)
        return JobSpec(
            job_id=uuid.uuid4().hex,
            messages=fitted.messages,
            params=request.params(),
            prompt_tokens=fitted.prompt_tokens,
            max_tokens=max_tokens,
            max_reasoning_tokens=reasoning_budget(request.max_reasoning_tokens, max_tokens, settings),
            created_at=time.time(),
            thinking_budget_message=budget_message(request.thinking_budget_message, messages, settings),
            dropped_messages=fitted.dropped,
            conversation=conversation_key(messages) if settings.affinity else None,
            samples=request.samples,
            revise=request.revise,
            adapter=route.adapter,
        )

    async def _route(self, messages: list[ChatMessage], route: Route) -> str | None:
        """The queue for a job: an idle worker's own queue when one of the job's model is the
        right place, else None (the model's pool, which all its workers serve). The right place
        is, first, the worker that answered the conversation's previous turn (it holds the KV
        state of the shared prefix); for a job with an adapter, else, a worker already computing
        with that adapter (a switch drops the context it holds)."""
        if not self._settings.affinity or (len(messages) < 2 and route.adapter is None):
            return None
        # Read now, not the directory's view: which worker computes with which adapter changes
        # from one job to the next.
        live = [w for w in await self._models.live_workers() if w.model == route.pool]
        workers = {w.worker_id for w in live}
        scope = route.adapter.scope if route.adapter is not None else ""
        candidates: list[str] = []
        if len(messages) >= 2:
            worker = await self._redis.get(keys.conversation_worker_key(conversation_key(messages[:-1])))
            # Its saved states of every adapter stay in its cache: any adapter it runs now will do.
            if worker is not None and worker.decode() in workers:
                candidates.append(worker.decode())
        if route.adapter is not None:
            candidates += [w.worker_id for w in live if w.adapter == scope]
        for worker_id in candidates:
            if await self._redis.hget(keys.rq_worker_key(worker_id), "state") == b"idle":
                return keys.worker_queue(worker_id)
        return None

    async def get(self, job_id: str) -> JobView:
        status, created_at, owner = await self._events.hmget(keys.job_key(job_id), ["status", "created_at", "owner"])
        if status is None or not self._visible(owner):
            raise JobNotFound(f"no job with id {job_id!r} (it may have expired)")
        raw_events = await self._events.lrange(keys.job_events_key(job_id), 0, -1)
        return eventlog.fold(
            job_id, JobStatus(status.decode()), float(created_at), (parse_event(raw) for raw in raw_events)
        )

    async def cancel(self, job_id: str) -> JobStatus:
        """Ask for the job to stop (`JobStore.cancel`): a queued job never runs; a running one
        stops at its next flush of text (within 40 ms, decoding alone). Finished jobs are left as
        they are."""
        await self.require(job_id)
        try:
            return await anyio.to_thread.run_sync(self._store.cancel, job_id)
        except JobGone as exc:
            raise JobNotFound(f"no job with id {job_id!r} (it may have expired)") from exc

    async def control(self, job_id: str, action: str) -> JobStatus:
        """A live control of a running job (`JobStore.control`): `end_reasoning` closes its
        reasoning at the worker's next flush of text. Raises `UnsupportedParameter` for an unknown
        action and `ControlRefused` when the job has no reasoning left to end."""
        if action not in CONTROL_ACTIONS:
            allowed = ", ".join(repr(a) for a in CONTROL_ACTIONS)
            shown = action if len(action) <= 40 else action[:40] + "…"
            raise UnsupportedParameter(
                "action", f"{shown!r} is not a control; use {allowed} (to cancel a job, send DELETE instead)"
            )
        await self.require(job_id)
        try:
            return await anyio.to_thread.run_sync(self._store.control, job_id, action)
        except JobGone as exc:
            raise JobNotFound(f"no job with id {job_id!r} (it may have expired)") from exc

    async def require(self, job_id: str) -> int | None:
        """`JobNotFound` unless the job exists (and is the caller's); returns the seq of its
        terminal event, or None while it runs (one read for both)."""
        status, owner, ended = await self._events.hmget(keys.job_key(job_id), ["status", "owner", "ended"])
        if status is None or not self._visible(owner):
            raise JobNotFound(f"no job with id {job_id!r} (it may have expired)")
        return int(ended) if ended is not None else None

    async def follow(self, job_id: str, after_seq: int = 0) -> AsyncIterator[StreamItem]:
        """Every event with `seq > after_seq`, in order, each once, ending after a terminal one.

        If Redis goes away (a restart), the stream waits and resumes where it was, for up to
        `STREAM_OUTAGE_S`; the events written meanwhile are in the log.
        """
        async for batch in self.follow_batches(job_id, after_seq):
            for item in batch:
                yield item

    async def follow_batches(self, job_id: str, after_seq: int = 0) -> AsyncIterator[list[StreamItem]]:
        """`follow`, in batches: each holds the events ready at once (a client that fell behind
        gets them in one write), and an empty one every `IDLE_RESYNC_S` without events."""
        last = after_seq
        lost_at: float | None = None
        while True:
            try:
                async for batch in self._follow_once(job_id, last):
                    if batch:
                        last, lost_at = batch[-1].seq, None
                    yield batch
                    if batch and batch[-1].type in TERMINAL_EVENT_TYPES:
                        return
                return
            except RedisError as exc:
                lost_at = lost_at or time.monotonic()
                if time.monotonic() - lost_at > STREAM_OUTAGE_S:
                    raise
                log.warning("stream of job %s lost Redis (%s); resuming after seq %d", job_id, exc, last)
                await anyio.sleep(1.0)

    async def _follow_once(self, job_id: str, last: int) -> AsyncIterator[list[StreamItem]]:
        """Subscribes before reading the log, so nothing published in between is missed;
        pub/sub messages already covered by the log are skipped by `seq`. A batch ends at a
        terminal event."""
        async with self._fanout.listen(keys.job_events_channel(job_id)) as messages:
            while True:
                batch: list[StreamItem] = []
                for raw in await self._events.lrange(keys.job_events_key(job_id), last, -1):
                    item = stream_item(raw)
                    last = item.seq
                    batch.append(item)
                    if item.type in TERMINAL_EVENT_TYPES:
                        yield batch
                        return
                if batch:
                    yield batch
                while True:
                    if messages.empty():
                        try:
                            async with asyncio.timeout(IDLE_RESYNC_S):
                                data = await messages.get()
                        except TimeoutError:
                            yield []
                            break  # idle: re-read the log in case a message was dropped
                    else:
                        data = messages.get_nowait()
                    batch = []
                    resync = False
                    while True:
                        if data is None:
                            resync = True  # the fan-out dropped messages: the log has them
                            break
                        if data.seq > last + 1:
                            resync = True  # a gap: the log has what we missed
                            break
                        if data.seq == last + 1:
                            last = data.seq
                            batch.append(data)
                            if data.type in TERMINAL_EVENT_TYPES:
                                yield batch
                                return
                        if messages.empty():
                            break
                        data = messages.get_nowait()
                    if batch:
                        yield batch
                    if resync:
                        break


def accepted(spec: JobSpec, position: int) -> JobAccepted:
    return JobAccepted(
        id=spec.job_id,
        status=JobStatus.QUEUED,
        events_url=f"/v1/jobs/{spec.job_id}/events",
        prompt_tokens=spec.prompt_tokens,
        queue_position=position,
        dropped_messages=spec.dropped_messages,
    )


def reasoning_budget(requested: int | None, max_tokens: int, settings: Settings) -> int:
    """The reasoning budget of a job. -1: none but `max_tokens`. Not given: the default, but never
    so much of `max_tokens` that no room is left for the answer (a quarter of it stays for the
    answer: with `max_tokens: 400` the model reasons at most 300 tokens)."""
    if requested == -1:
        return max_tokens
    if requested is not None:
        return requested
    answer_room = -(-max_tokens // ANSWER_SHARE)
    return max(0, min(settings.default_max_reasoning_tokens, max_tokens - answer_room))


def _fits_inline(messages: Sequence[ChatMessage]) -> bool:
    if any(m.tools or m.tool_calls for m in messages):
        return False
    return sum(len(m.content) for m in messages) <= INLINE_FIT_CHARS
