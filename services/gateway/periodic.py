"""A gateway background task that reads something from Redis at a fixed interval."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from redis.exceptions import RedisError

log = logging.getLogger(__name__)


async def every(interval_s: float, read: Callable[[], Awaitable[object]], what: str) -> None:
    """Call `read` every `interval_s` (first after one interval) until cancelled. A Redis error
    is logged and the next round tries again (the reader keeps what it read last). A cancel
    that the client turned into a `RedisError` still cancels."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await read()
        except RedisError as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise asyncio.CancelledError from exc
            log.warning("cannot read %s: %s", what, exc)
