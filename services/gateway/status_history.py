"""The operators' page's history: a small rolling series in Redis, the same for every replica.

Every `status_sample_interval_s`, one gateway replica (a lease in Redis picks it; it renews the
lease at each sample, and another takes over once it stops) reads the cluster and appends one
point (tokens/s of every live worker together, jobs waiting, jobs running) to a list trimmed to
`status_history_s` of points, which expires when no replica is left to write it. A page that
reloads, or asks another replica, gets the same series.

The only writer of `keys.STATUS_HISTORY_KEY` and `keys.STATUS_LEASE_KEY`.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable

import anyio
from pydantic import ValidationError
from redis import Redis
from redis.exceptions import RedisError

from services.gateway.status import Snapshot
from shared import keys
from shared.settings import Settings
from shared.status_api import StatusSample

log = logging.getLogger(__name__)

LEASE_INTERVALS = 3
"""The lease lasts this many sample intervals: a replica that stops is replaced after at most
that long, and a tick that comes late does not lose it."""

# KEYS: the lease.  ARGV: this replica's id, the lease's length in milliseconds.
# Takes a free lease or renews this replica's own; 1 if this replica holds it now.
LEASE_SCRIPT = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""


class StatusHistory:
    def __init__(self, redis: Redis, settings: Settings) -> None:
        self._redis = redis
        self._interval_s = settings.status_sample_interval_s
        self._history_s = settings.status_history_s
        self._kept = math.ceil(self._history_s / self._interval_s) + 1
        """Points in the list: the window's, and one more so that the plot starts at its edge."""
        self._lease = redis.register_script(LEASE_SCRIPT)
        self._holder = uuid.uuid4().hex

    def hold_lease(self) -> bool:
        """Whether this replica takes the samples now (it takes a free lease or renews its own)."""
        lease_ms = max(int(self._interval_s * LEASE_INTERVALS * 1000), 1)
        return bool(self._lease(keys=[keys.STATUS_LEASE_KEY], args=[self._holder, lease_ms]))

    def record(self, sample: StatusSample) -> None:
        """Append a point, dropping those past the window."""
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.rpush(keys.STATUS_HISTORY_KEY, sample.model_dump_json())
            pipe.ltrim(keys.STATUS_HISTORY_KEY, -self._kept, -1)
            # With no gateway left to sample, the series goes once it is all out of date.
            pipe.expire(keys.STATUS_HISTORY_KEY, max(math.ceil(self._history_s), 1))
            pipe.execute()

    def samples(self, now: float) -> list[StatusSample]:
        """The points of the last `status_history_s` before `now` (Redis's clock), oldest first."""
        out = []
        for raw in self._redis.lrange(keys.STATUS_HISTORY_KEY, 0, -1):
            try:
                sample = StatusSample.model_validate_json(raw)
            except ValidationError:
                continue  # written by another version: its plot starts afresh
            if sample.at >= now - self._history_s:
                out.append(sample)
        return out


class StatusSampler:
    """Records a point every `status_sample_interval_s` while this replica holds the lease."""

    def __init__(self, history: StatusHistory, snapshot: Callable[[], Awaitable[Snapshot]], settings: Settings) -> None:
        self._history = history
        self._snapshot = snapshot
        self._interval_s = settings.status_sample_interval_s

    async def run(self) -> None:
        """Sample until cancelled; an error is logged and the next round tries again."""
        while True:
            began = time.monotonic()
            try:
                await self.tick()
            except RedisError as exc:
                log.warning("status sampling skipped a round: %s", exc)
            except Exception:
                log.exception("status sampling failed")
            await anyio.sleep(max(self._interval_s - (time.monotonic() - began), 0.05))

    async def tick(self) -> StatusSample | None:
        """One round: the point recorded, or None when another replica records them."""
        if not await anyio.to_thread.run_sync(self._history.hold_lease):
            return None
        sample = (await self._snapshot()).sample()
        await anyio.to_thread.run_sync(self._history.record, sample)
        return sample
