"""What each API key keeps stored: its files and batches, and their bytes.

One key must not be able to fill the service for everyone. Every stored object is recorded under
its owner with its size and expiry; storing another is one atomic check against the key's limits
(`key_max_files`, `key_max_batches`, `key_max_stored_mb`), and an object counts until it expires
or is deleted. A batch's size grows as its results are collected.
"""

from __future__ import annotations

import time
from typing import Literal

from redis import Redis

from services.store.exceptions import StorageQuotaExceeded
from shared import keys
from shared.settings import Settings

Kind = Literal["file", "batch"]

# KEYS: the owner's objects (sorted set, scored by expiry), their sizes (hash).
# ARGV: now, member ("file:<id>"), bytes, expires at, kind prefix ("file:"), most objects of the
# kind, most bytes in all. Returns {1, 0} stored, {-1, count} too many objects of the kind,
# {-2, bytes} too many bytes.
RESERVE_SCRIPT = """
for _, gone in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])) do
  redis.call('HDEL', KEYS[2], gone)
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local count = 0
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if string.sub(member, 1, #ARGV[5]) == ARGV[5] then count = count + 1 end
end
if count + 1 > tonumber(ARGV[6]) then return {-1, count} end
local total = 0
for _, size in ipairs(redis.call('HVALS', KEYS[2])) do total = total + tonumber(size) end
if total + tonumber(ARGV[3]) > tonumber(ARGV[7]) then return {-2, total} end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[4]) - tonumber(ARGV[1])) + 60)
redis.call('EXPIRE', KEYS[2], math.ceil(tonumber(ARGV[4]) - tonumber(ARGV[1])) + 60)
return {1, 0}
"""

# KEYS: the owner's objects, their sizes.  ARGV: member, bytes to add.  Only while it is stored.
GROW_SCRIPT = """
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  return redis.call('HINCRBY', KEYS[2], ARGV[1], ARGV[2])
end
return 0
"""


class StorageUsage:
    def __init__(self, redis: Redis, settings: Settings) -> None:
        self._redis = redis
        self._settings = settings
        self._reserve = redis.register_script(RESERVE_SCRIPT)
        self._grow = redis.register_script(GROW_SCRIPT)

    def reserve(self, owner: str | None, kind: Kind, object_id: str, size_bytes: int, ttl_s: int) -> None:
        """Record a new object of `owner`; `StorageQuotaExceeded` (and nothing recorded) past a limit."""
        settings = self._settings
        most = settings.key_max_files if kind == "file" else settings.key_max_batches
        most_bytes = settings.key_max_stored_mb << 20
        now = time.time()
        code, found = self._reserve(
            keys=self._keys(owner),
            args=[now, f"{kind}:{object_id}", size_bytes, now + ttl_s, f"{kind}:", most, most_bytes],
        )
        if code == -1:
            setting = "THINKSTREAM_KEY_MAX_FILES" if kind == "file" else "THINKSTREAM_KEY_MAX_BATCHES"
            raise StorageQuotaExceeded(
                f"{_whose(owner)} already keeps {found} {kind}s, the most allowed ({setting}): "
                f"delete some (DELETE /v1/{kind}s/ID) or wait for them to expire",
                status=429,
            )
        if code == -2:
            raise StorageQuotaExceeded(
                f"{_whose(owner)} already stores {int(found) / (1 << 20):.1f} MiB; this {kind} of "
                f"{size_bytes / (1 << 20):.1f} MiB would pass the limit of {settings.key_max_stored_mb} MiB "
                "(THINKSTREAM_KEY_MAX_STORED_MB): delete files you no longer need, or wait for them to expire",
                status=413 if size_bytes > most_bytes else 429,
            )

    def grow(self, owner: str | None, kind: Kind, object_id: str, size_bytes: int) -> None:
        """An object takes more room (a batch collected another result)."""
        self._grow(keys=self._keys(owner), args=[f"{kind}:{object_id}", size_bytes])

    def release(self, owner: str | None, kind: Kind, object_id: str) -> None:
        objects, sizes = self._keys(owner)
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.zrem(objects, f"{kind}:{object_id}")
            pipe.hdel(sizes, f"{kind}:{object_id}")
            pipe.execute()

    def _keys(self, owner: str | None) -> list[str]:
        return [keys.owner_objects_key(owner), keys.owner_sizes_key(owner)]


def _whose(owner: str | None) -> str:
    return f"API key {owner!r}" if owner is not None else "this service"
