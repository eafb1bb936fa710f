"""Listing one API key's batches or files, newest first, in OpenAI's pages (`after`, `limit`).

Each owner has a sorted set of ids by creation time, kept as long as the objects it indexes. An
object expires on its own TTL; a page that meets its id drops it from the set.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from redis.asyncio import Redis as AsyncRedis
from redis.asyncio.client import Pipeline

from shared import keys
from shared.text import decoded


class UnknownCursor(Exception):
    """`after` names an id that is not in the owner's list (wrong, another key's, or expired)."""


@dataclass(frozen=True)
class Page:
    ids: list[str]
    has_more: bool


class OwnerIndex:
    def __init__(self, redis: AsyncRedis, kind: str, object_key: Callable[[str], str], ttl_s: int) -> None:
        self._redis = redis
        self._kind = kind
        self._object_key = object_key
        self._ttl_s = ttl_s

    def add(self, pipe: Pipeline, owner: str | None, object_id: str) -> None:
        """Index an object, in the pipeline that stores it; called again when it changes (its
        place stays, the index lives as long as it does)."""
        pipe.zadd(self._key(owner), {object_id: time.time()}, nx=True)
        pipe.expire(self._key(owner), self._ttl_s)

    def remove(self, pipe: Pipeline, owner: str | None, object_id: str) -> None:
        pipe.zrem(self._key(owner), object_id)

    async def page(self, owner: str | None, *, after: str | None, limit: int) -> Page:
        key = self._key(owner)
        start = 0
        if after is not None:
            rank = await self._redis.zrevrank(key, after)
            if rank is None:
                raise UnknownCursor(f"no {self._kind} with id {after!r} to list after (it may have expired)")
            start = int(rank) + 1
        live: list[str] = []
        while len(live) <= limit:  # one more than asked: whether there is a next page
            window = [decoded(raw) for raw in await self._redis.zrevrange(key, start, start + limit)]
            if not window:
                break
            async with self._redis.pipeline(transaction=False) as pipe:
                for object_id in window:
                    pipe.exists(self._object_key(object_id))
                exists = await pipe.execute()
            expired = [object_id for object_id, found in zip(window, exists, strict=True) if not found]
            if expired:
                await self._redis.zrem(key, *expired)
            live.extend(object_id for object_id, found in zip(window, exists, strict=True) if found)
            start += len(window) - len(expired)
        return Page(ids=live[:limit], has_more=len(live) > limit)

    def _key(self, owner: str | None) -> str:
        return keys.owner_index_key(self._kind, owner)
