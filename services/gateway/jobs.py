"""Accepting jobs, reading them back and following their event streams."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import anyio
from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import RedisError
from rq import Queue

from services.gateway.exceptions import QueueUnavailable
from services.gateway.tokens import PromptCounter
from shared import eventlog, keys
from shared.exceptions import JobNotFound, PromptTooLong
from shared.schemas import (
    TERMINAL_EVENT_TYPES,
    CanceledEvent,
    JobAccepted,
    JobRequest,
    JobSpec,
    JobStatus,
    JobView,
    QueuedEvent,
    parse_event,
)
from shared.settings import Settings

INFERENCE_FUNC = "services.inference.job.run_inference"
IDLE_RESYNC_S = 5.0
"""How long a follower waits on pub/sub before re-reading the log (covers a dropped message)."""


@dataclass(frozen=True)
class StreamItem:
    seq: int
    type: str
    data: str
    """The event exactly as stored: JSON with `seq`, `ts`, `type` and the payload."""


class JobService:
    def __init__(self, settings: Settings, redis: AsyncRedis, sync_redis: Redis, counter: PromptCounter) -> None:
        self._settings = settings
        self._redis = redis
        self._queue = Queue(keys.INFERENCE_QUEUE, connection=sync_redis)
        self._counter = counter
        self._append = sync_redis.register_script(eventlog.APPEND_SCRIPT)

    async def submit(self, request: JobRequest) -> JobAccepted:
        messages = request.chat()
        prompt_tokens = await anyio.to_thread.run_sync(self._counter.count, messages)
        max_tokens = self._fit(prompt_tokens, request.max_tokens)
        budget = request.max_reasoning_tokens
        job_id = uuid.uuid4().hex
        spec = JobSpec(
            job_id=job_id,
            messages=messages,
            params=request.params(),
            prompt_tokens=prompt_tokens,
            max_tokens=max_tokens,
            max_reasoning_tokens=self._settings.default_max_reasoning_tokens if budget is None else budget,
            created_at=time.time(),
        )
        try:
            position = await anyio.to_thread.run_sync(self._enqueue, spec)
        except RedisError as exc:
            raise QueueUnavailable(f"the job queue is unavailable: {exc}") from exc
        return JobAccepted(
            id=job_id,
            status=JobStatus.QUEUED,
            events_url=f"/v1/jobs/{job_id}/events",
            prompt_tokens=prompt_tokens,
            queue_position=position,
        )

    def _fit(self, prompt_tokens: int, max_tokens: int | None) -> int:
        n_ctx = self._counter.n_ctx
        reserved = max_tokens if max_tokens is not None else self._settings.min_answer_tokens
        if prompt_tokens + reserved > n_ctx:
            raise PromptTooLong(prompt_tokens, max(n_ctx - reserved, 0), n_ctx, reserved)
        return max_tokens if max_tokens is not None else min(self._settings.default_max_tokens, n_ctx - prompt_tokens)

    def _enqueue(self, spec: JobSpec) -> int:
        sync = self._queue.connection
        ttl_s = self._settings.job_ttl_s + self._settings.job_timeout_s
        position = self._queue.count
        with sync.pipeline() as pipe:
            pipe.hset(
                keys.job_key(spec.job_id),
                mapping={
                    "spec": spec.model_dump_json(),
                    "status": JobStatus.QUEUED.value,
                    "created_at": spec.created_at,
                },
            )
            pipe.expire(keys.job_key(spec.job_id), ttl_s)
            pipe.execute()
        queued = eventlog.stamp(QueuedEvent, position=position)
        self._append(keys=eventlog.append_keys(spec.job_id), args=eventlog.append_args(queued, ttl_s))
        sync.expire(keys.job_events_key(spec.job_id), ttl_s)
        self._queue.enqueue(
            INFERENCE_FUNC,
            spec.job_id,
            job_id=spec.job_id,
            job_timeout=self._settings.job_timeout_s,
            result_ttl=self._settings.job_ttl_s,
            failure_ttl=self._settings.job_ttl_s,
        )
        return position

    async def get(self, job_id: str) -> JobView:
        status, created_at = await self._redis.hmget(keys.job_key(job_id), ["status", "created_at"])
        if status is None:
            raise JobNotFound(f"no job with id {job_id!r} (it may have expired)")
        raw_events = await self._redis.lrange(keys.job_events_key(job_id), 0, -1)
        return eventlog.fold(
            job_id, JobStatus(status.decode()), float(created_at), (parse_event(raw) for raw in raw_events)
        )

    async def cancel(self, job_id: str) -> JobStatus:
        """Ask for the job to stop. A queued job never runs; a running one stops within a token
        (its worker checks the flag between tokens). Finished jobs are left as they are."""
        status = await self._redis.hget(keys.job_key(job_id), "status")
        if status is None:
            raise JobNotFound(f"no job with id {job_id!r} (it may have expired)")
        current = JobStatus(status.decode())
        if current.is_final:
            return current
        ttl_s = self._settings.job_ttl_s + self._settings.job_timeout_s
        await self._redis.set(keys.job_cancel_key(job_id), 1, ex=ttl_s)
        if current is JobStatus.QUEUED:
            await anyio.to_thread.run_sync(self._drop_queued, job_id, ttl_s)
            return JobStatus.CANCELED
        return current

    def _drop_queued(self, job_id: str, ttl_s: int) -> None:
        self._queue.remove(job_id)
        seq = self._append(
            keys=eventlog.append_keys(job_id), args=eventlog.append_args(eventlog.stamp(CanceledEvent), ttl_s)
        )[0]
        if seq:  # the worker had not started it; if it had, it ends the stream itself
            self._queue.connection.hset(keys.job_key(job_id), "status", JobStatus.CANCELED.value)

    async def require(self, job_id: str) -> None:
        if not await self._redis.exists(keys.job_key(job_id)):
            raise JobNotFound(f"no job with id {job_id!r} (it may have expired)")

    async def follow(self, job_id: str, after_seq: int = 0) -> AsyncIterator[StreamItem]:
        """Every event with `seq > after_seq`, in order, each once, ending after a terminal one.

        Subscribes before reading the log, so nothing published in between is missed; pub/sub
        messages already covered by the log are skipped by `seq`.
        """
        last = after_seq
        async with self._redis.pubsub() as pubsub:
            await pubsub.subscribe(keys.job_events_channel(job_id))
            while True:
                for raw in await self._redis.lrange(keys.job_events_key(job_id), last, -1):
                    item = _item(raw)
                    last = item.seq
                    yield item
                    if item.type in TERMINAL_EVENT_TYPES:
                        return
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=IDLE_RESYNC_S)
                    if message is None:
                        break  # idle: re-read the log in case a message was dropped
                    item = _item(message["data"])
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
