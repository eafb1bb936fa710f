"""Accepting jobs, reading them back and following their event streams."""

from __future__ import annotations

import asyncio
import copy
import functools
import json
import logging
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import anyio
from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import RedisError
from rq import Queue

from services.gateway.backpressure import retry_after_s
from services.gateway.exceptions import QueueFull, QueueUnavailable
from services.gateway.fanout import EventFanout
from services.gateway.fitting import fit_conversation
from services.gateway.quotas import QueuedJobLimit
from services.gateway.tokens import PromptCounter
from shared import eventlog, keys
from shared.conversation import conversation_key, model_messages
from shared.exceptions import JobNotFound
from shared.schemas import (
    TERMINAL_EVENT_TYPES,
    CanceledEvent,
    ChatMessage,
    JobAccepted,
    JobRequest,
    JobSpec,
    JobStatus,
    JobView,
    QueuedEvent,
    parse_event,
)
from shared.settings import Settings
from shared.tasks import INFERENCE_FUNC

log = logging.getLogger(__name__)

SAMPLE_TEMPERATURE = 0.7
"""Temperature of self-consistency samples when the request asked for greedy decoding."""
STREAM_OUTAGE_S = 120.0
"""How long a stream waits for Redis to come back before it gives up."""
IDLE_RESYNC_S = 5.0
"""How long a follower waits on pub/sub before re-reading the log (covers a dropped message)."""


@dataclass(frozen=True)
class StreamItem:
    seq: int
    type: str
    data: str
    """The event exactly as stored: JSON with `seq`, `ts`, `type` and the payload."""


class JobService:
    def __init__(
        self,
        settings: Settings,
        redis: AsyncRedis,
        sync_redis: Redis,
        counter: PromptCounter,
        fanout: EventFanout | None = None,
    ) -> None:
        self._settings = settings
        self._redis = redis
        self._fanout = fanout or EventFanout(redis)
        self._queue = Queue(keys.INFERENCE_QUEUE, connection=sync_redis)
        self._counter = counter
        self._append = sync_redis.register_script(eventlog.APPEND_SCRIPT)
        self._owner: str | None = None
        self._queued_per_key = QueuedJobLimit(
            sync_redis, settings.key_max_queued_jobs, settings.job_ttl_s + settings.job_timeout_s
        )

    def for_owner(self, owner: str | None) -> JobService:
        """This service acting for one API key (`request.state.key_id`): the jobs it queues
        record the key as their owner and count against its queued-jobs limit, and jobs of other
        keys look missing (404, not 403: a stranger's job id is not even confirmed). `None`
        (keys off) sees every job."""
        view = copy.copy(self)
        view._owner = owner
        return view

    def _visible(self, owner: bytes | None) -> bool:
        return self._owner is None or owner == self._owner.encode()

    async def submit(self, request: JobRequest) -> JobAccepted:
        """Fit the conversation into the context, route it, queue it; raises `PromptTooLong`
        or `QueueFull` instead of accepting a job that cannot run or would wait too long."""
        spec = await self.plan(request)
        if spec.samples > 1:
            return await self._enqueue_samples(spec)
        try:
            queue = await self._route(model_messages(request.chat()))
        except RedisError as exc:
            raise QueueUnavailable(f"the job queue is unavailable: {exc}") from exc
        return await self.enqueue(spec, queue)

    async def _enqueue_samples(self, spec: JobSpec) -> JobAccepted:
        """Self-consistency: the job the client follows only collects; each sample is a job of
        its own on the shared queue, so several workers answer in parallel. Samples need
        diversity: a greedy request samples at `SAMPLE_TEMPERATURE`, each with its own seed."""
        params = spec.params.model_copy(
            update={"temperature": spec.params.temperature or SAMPLE_TEMPERATURE, "seed": None}
        )
        base_seed = spec.params.seed if spec.params.seed is not None else secrets.randbelow(2**30)
        children = [
            spec.model_copy(
                update={
                    "job_id": uuid.uuid4().hex,
                    "params": params.model_copy(update={"seed": base_seed + index}),
                    "samples": 1,
                    "parent": spec.job_id,
                    "sample_index": index,
                    "conversation": None,
                }
            )
            for index in range(spec.samples)
        ]
        accepted = await self.enqueue(spec, keys.INFERENCE_QUEUE, run=False)
        await self._redis.hset(keys.job_key(spec.job_id), "children", json.dumps([c.job_id for c in children]))
        for child in children:
            await self.enqueue(child, keys.INFERENCE_QUEUE)
        return accepted

    async def plan(self, request: JobRequest) -> JobSpec:
        """The job a request becomes, its conversation fitted to the context (raises
        `PromptTooLong`). Nothing is stored: a batch plans every item before queueing any."""
        messages = model_messages(request.chat())
        settings = self._settings
        fitted = await anyio.to_thread.run_sync(
            functools.partial(
                fit_conversation,
                messages,
                self._counter.count,
                n_ctx=self._counter.n_ctx,
                wanted=request.max_tokens or settings.default_max_tokens,
                needed=request.max_tokens or settings.min_answer_tokens,
            )
        )
        max_tokens = request.max_tokens or min(settings.default_max_tokens, self._counter.n_ctx - fitted.prompt_tokens)
        budget = request.max_reasoning_tokens
        return JobSpec(
            job_id=uuid.uuid4().hex,
            messages=fitted.messages,
            params=request.params(),
            prompt_tokens=fitted.prompt_tokens,
            max_tokens=max_tokens,
            max_reasoning_tokens=settings.default_max_reasoning_tokens if budget is None else budget,
            created_at=time.time(),
            dropped_messages=fitted.dropped,
            conversation=conversation_key(messages) if settings.affinity else None,
            samples=request.samples,
            revise=request.revise,
        )

    async def enqueue(self, spec: JobSpec, queue: str, *, run: bool = True) -> JobAccepted:
        """Store a planned job and queue it on `queue`. Interactive queues refuse jobs past
        `max_queued_jobs` (`QueueFull`); `keys.BATCH_QUEUE` does not (batch limits bound it)."""
        try:
            position = await anyio.to_thread.run_sync(self._enqueue, spec, queue, run)
        except RedisError as exc:
            raise QueueUnavailable(f"the job queue is unavailable: {exc}") from exc
        return JobAccepted(
            id=spec.job_id,
            status=JobStatus.QUEUED,
            events_url=f"/v1/jobs/{spec.job_id}/events",
            prompt_tokens=spec.prompt_tokens,
            queue_position=position,
            dropped_messages=spec.dropped_messages,
        )

    async def _route(self, messages: list[ChatMessage]) -> str:
        """The queue for a job: the own queue of the worker that answered the conversation's
        previous turn (it holds the KV state of the shared prefix) if that worker is alive and
        idle, else the shared queue that every worker serves."""
        if not self._settings.affinity or len(messages) < 2:
            return keys.INFERENCE_QUEUE
        worker = await self._redis.get(keys.conversation_worker_key(conversation_key(messages[:-1])))
        if worker is None:
            return keys.INFERENCE_QUEUE
        worker_id = worker.decode()
        seen, state = await asyncio.gather(
            self._redis.zscore(keys.live_workers_key("inference"), worker_id),
            self._redis.hget(keys.rq_worker_key(worker_id), "state"),
        )
        alive = seen is not None and time.time() - seen < self._settings.worker_ttl_s
        return keys.worker_queue(worker_id) if alive and state == b"idle" else keys.INFERENCE_QUEUE

    def _enqueue(self, spec: JobSpec, queue_name: str, run: bool = True) -> int:
        sync = self._queue.connection
        batch = queue_name == keys.BATCH_QUEUE
        position = Queue(queue_name, connection=sync).count if batch else self._queue.count
        if not batch and position >= self._settings.max_queued_jobs:
            excess = position - self._settings.max_queued_jobs + 1
            raise QueueFull(position, retry_after_s(sync, excess=excess, worker_ttl_s=self._settings.worker_ttl_s))
        if not batch and self._owner is not None:
            self._queued_per_key.reserve(self._owner, spec.job_id)
        # A batch item may wait behind the whole batch: its request must outlive that wait.
        ttl_s = self._settings.job_ttl_s + self._settings.job_timeout_s + (self._settings.batch_ttl_s if batch else 0)
        with sync.pipeline() as pipe:
            pipe.hset(
                keys.job_key(spec.job_id),
                mapping={
                    "spec": spec.model_dump_json(),
                    "status": JobStatus.QUEUED.value,
                    "created_at": spec.created_at,
                    "owner": self._owner or "",
                },
            )
            pipe.expire(keys.job_key(spec.job_id), ttl_s)
            pipe.execute()
        queued = eventlog.stamp(QueuedEvent, position=position)
        self._append(keys=eventlog.append_keys(spec.job_id), args=eventlog.append_args(queued, ttl_s))
        sync.expire(keys.job_events_key(spec.job_id), ttl_s)
        if not run:  # a job that only collects its samples' answers
            return position
        queue = self._queue if queue_name == self._queue.name else Queue(queue_name, connection=sync)
        queue.enqueue(
            INFERENCE_FUNC,
            spec.job_id,
            job_id=spec.job_id,
            job_timeout=self._settings.job_timeout_s,
            result_ttl=self._settings.job_ttl_s,
            failure_ttl=self._settings.job_ttl_s,
        )
        return position

    async def get(self, job_id: str) -> JobView:
        status, created_at, owner = await self._redis.hmget(keys.job_key(job_id), ["status", "created_at", "owner"])
        if status is None or not self._visible(owner):
            raise JobNotFound(f"no job with id {job_id!r} (it may have expired)")
        raw_events = await self._redis.lrange(keys.job_events_key(job_id), 0, -1)
        return eventlog.fold(
            job_id, JobStatus(status.decode()), float(created_at), (parse_event(raw) for raw in raw_events)
        )

    async def cancel(self, job_id: str) -> JobStatus:
        """Ask for the job to stop. A queued job never runs; a running one stops within a token
        (its worker checks the flag between tokens). Finished jobs are left as they are."""
        status, owner = await self._redis.hmget(keys.job_key(job_id), ["status", "owner"])
        if status is None or not self._visible(owner):
            raise JobNotFound(f"no job with id {job_id!r} (it may have expired)")
        current = JobStatus(status.decode())
        if current.is_final:
            return current
        children = await self._redis.hget(keys.job_key(job_id), "children")
        for child in json.loads(children) if children else []:  # a self-consistency job's samples
            await self.cancel(child)
        ttl_s = self._settings.job_ttl_s + self._settings.job_timeout_s
        await self._redis.set(keys.job_cancel_key(job_id), 1, ex=ttl_s)
        if current is JobStatus.QUEUED:
            await anyio.to_thread.run_sync(self._drop_queued, job_id, ttl_s)
            return JobStatus.CANCELED
        return current

    def _drop_queued(self, job_id: str, ttl_s: int) -> None:
        self._queue.remove(job_id)
        Queue(keys.BATCH_QUEUE, connection=self._queue.connection).remove(job_id)
        seq = self._append(
            keys=eventlog.append_keys(job_id), args=eventlog.append_args(eventlog.stamp(CanceledEvent), ttl_s)
        )[0]
        if seq:  # the worker had not started it; if it had, it ends the stream itself
            self._queue.connection.hset(keys.job_key(job_id), "status", JobStatus.CANCELED.value)

    async def require(self, job_id: str) -> None:
        status, owner = await self._redis.hmget(keys.job_key(job_id), ["status", "owner"])
        if status is None or not self._visible(owner):
            raise JobNotFound(f"no job with id {job_id!r} (it may have expired)")

    async def follow(self, job_id: str, after_seq: int = 0) -> AsyncIterator[StreamItem]:
        """Every event with `seq > after_seq`, in order, each once, ending after a terminal one.

        If Redis goes away (a restart), the stream waits and resumes where it was, for up to
        `STREAM_OUTAGE_S`; the events written meanwhile are in the log.
        """
        last = after_seq
        lost_at: float | None = None
        while True:
            try:
                async for item in self._follow_once(job_id, last):
                    last, lost_at = item.seq, None
                    yield item
                    if item.type in TERMINAL_EVENT_TYPES:
                        return
                return
            except RedisError as exc:
                lost_at = lost_at or time.monotonic()
                if time.monotonic() - lost_at > STREAM_OUTAGE_S:
                    raise
                log.warning("stream of job %s lost Redis (%s); resuming after seq %d", job_id, exc, last)
                await anyio.sleep(1.0)

    async def _follow_once(self, job_id: str, last: int) -> AsyncIterator[StreamItem]:
        """Subscribes before reading the log, so nothing published in between is missed;
        pub/sub messages already covered by the log are skipped by `seq`."""
        async with self._fanout.listen(keys.job_events_channel(job_id)) as messages:
            while True:
                for raw in await self._redis.lrange(keys.job_events_key(job_id), last, -1):
                    item = _item(raw)
                    last = item.seq
                    yield item
                    if item.type in TERMINAL_EVENT_TYPES:
                        return
                while True:
                    try:
                        data = await asyncio.wait_for(messages.get(), IDLE_RESYNC_S)
                    except TimeoutError:
                        break  # idle: re-read the log in case a message was dropped
                    if data is None:
                        break  # the fan-out dropped messages: the log has them
                    item = _item(data)
                    if item.seq <= last:
                        continue
                    if item.seq > last + 1:
                        break  # a gap: the log has what we missed
                    last = item.seq
                    yield item
                    if item.type in TERMINAL_EVENT_TYPES:
                        return


def _item(raw: bytes | str) -> StreamItem:
    data = raw.decode() if isinstance(raw, bytes) else raw
    head = json.loads(data)
    return StreamItem(seq=head["seq"], type=head["type"], data=data)
