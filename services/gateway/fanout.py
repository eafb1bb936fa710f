"""One Redis pub/sub connection per gateway, shared by every open stream.

A stream asks for a job's channel and gets a local queue; the first listener of a channel
subscribes, the last one unsubscribes. However many clients follow jobs, the gateway holds one
subscriber connection, and a slow client only fills its own bounded queue (it then resyncs from
the job's log, like any follower that missed a message). Each message is decoded once (`decode`),
and every listener of its channel gets the same object.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Generic, TypeVar

from redis.asyncio import Redis as AsyncRedis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

QUEUE_SIZE = 256
"""Messages kept for one slow listener; past that it drops and re-reads the log."""
RECONNECT_S = 1.0
T = TypeVar("T")


class EventFanout(Generic[T]):
    def __init__(self, redis: AsyncRedis, decode: Callable[[bytes], T]) -> None:
        self._redis = redis
        self._decode = decode
        self._listeners: dict[str, set[asyncio.Queue[T | None]]] = {}
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._lost = False
        """Redis went away and the channels are not subscribed again yet."""
        self._closing = False
        self._listening = asyncio.Event()
        """Set when a stream starts listening: the reader waits for it while nobody listens."""

    @contextlib.asynccontextmanager
    async def listen(self, channel: str) -> AsyncIterator[asyncio.Queue[T | None]]:
        """A queue of the channel's messages, decoded; `None` in it means messages may have been
        lost."""
        queue: asyncio.Queue[T | None] = asyncio.Queue(QUEUE_SIZE)
        async with self._lock:
            pubsub = await self._ensure_started()
            first = channel not in self._listeners
            self._listeners.setdefault(channel, set()).add(queue)
            self._listening.set()
            if first:
                await pubsub.subscribe(channel)
        try:
            yield queue
        finally:
            async with self._lock:
                listeners = self._listeners.get(channel, set())
                listeners.discard(queue)
                if not listeners:
                    self._listeners.pop(channel, None)
                    with contextlib.suppress(RedisError):
                        if self._pubsub is not None:
                            await self._pubsub.unsubscribe(channel)

    @property
    def channels(self) -> int:
        return len(self._listeners)

    async def close(self) -> None:
        # The flag too: before Python 3.12 a cancel that lands as a read completes can be lost.
        self._closing = True
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._pubsub is not None:
            with contextlib.suppress(RedisError):
                await self._pubsub.aclose()

    async def _ensure_started(self) -> PubSub:
        if self._pubsub is None:
            self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read(), name="event-fanout")
        return self._pubsub

    async def _read(self) -> None:
        while not self._closing:
            pubsub = self._pubsub
            assert pubsub is not None
            if not pubsub.subscribed:
                # Not subscribed yet: the first listener's SUBSCRIBE may still be on its way (it
                # must not be taken for a failed resubscription and thrown away, which lost the
                # first second of a fresh gateway's first stream), or Redis is still away.
                if self._lost and self._listeners:
                    await asyncio.sleep(RECONNECT_S)
                    await self._resubscribe()
                elif not self._listeners:
                    # Nobody listens: wait for the first listener instead of looking 100 times
                    # a second (two thirds of the CPU of a gateway idle after a stream).
                    self._listening.clear()
                    await self._listening.wait()
                else:
                    await asyncio.sleep(0.01)
                continue
            try:
                message = await pubsub.get_message(timeout=1.0)
            except (RedisError, OSError) as exc:
                log.warning("event fan-out lost Redis (%s); resubscribing", exc)
                self._lost = True
                self._warn_all()
                await asyncio.sleep(RECONNECT_S)
                await self._resubscribe()
                continue
            if message is None or message.get("type") != "message":
                continue
            listeners = self._listeners.get(message["channel"].decode())
            if not listeners:
                continue
            try:
                item = self._decode(message["data"])
            except ValueError:
                log.exception("event fan-out dropped a message it could not decode")
                continue
            for queue in tuple(listeners):
                try:
                    queue.put_nowait(item)
                except asyncio.QueueFull:
                    _replace_with_gap(queue)

    async def _resubscribe(self) -> None:
        async with self._lock:
            if self._pubsub is not None:
                with contextlib.suppress(RedisError):
                    await self._pubsub.aclose()
            self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            if self._listeners:
                with contextlib.suppress(RedisError):
                    await self._pubsub.subscribe(*self._listeners)
            self._lost = bool(self._listeners) and not self._pubsub.subscribed

    def _warn_all(self) -> None:
        for listeners in self._listeners.values():
            for queue in listeners:
                _replace_with_gap(queue)


def _replace_with_gap(queue: asyncio.Queue[T | None]) -> None:
    """Empty the queue and leave one `None`: the listener re-reads the log."""
    while not queue.empty():
        queue.get_nowait()
    queue.put_nowait(None)
