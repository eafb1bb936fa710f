"""How many event streams one caller may hold open on a gateway.

A stream holds a connection and a subscription for as long as its job runs (minutes). Each API key
(or, for requests without a key, each client address) may hold at most `key_max_streams` /
`client_max_streams` at once on one gateway; one more is refused with 429 at once rather than
queued. Long requests that wait for a whole answer (non-streaming chat completions) count too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass

from fastapi import Request

from services.gateway.exceptions import RateLimited
from shared.settings import Settings

RETRY_AFTER_S = 5


@dataclass(frozen=True)
class Caller:
    name: str
    """`key:<name>` or `client:<address>`."""
    limit: int
    setting: str


class StreamSlots:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._open: Counter[str] = Counter()

    def caller(self, request: Request) -> Caller:
        key_id = getattr(request.state, "key_id", None)
        if key_id is not None:
            return Caller(f"key:{key_id}", self._settings.key_max_streams, "THINKSTREAM_KEY_MAX_STREAMS")
        address = request.client.host if request.client else "unknown"
        return Caller(f"client:{address}", self._settings.client_max_streams, "THINKSTREAM_CLIENT_MAX_STREAMS")

    def open(self, caller: Caller) -> None:
        """Take a slot; `RateLimited` when the caller holds its limit already."""
        if self._open[caller.name] >= caller.limit:
            who = caller.name.replace("key:", "API key ").replace("client:", "client ")
            raise RateLimited(
                f"{who} already has {self._open[caller.name]} streams open on this gateway, the most allowed "
                f"({caller.setting}): close one (or read answers with GET /v1/jobs/ID) before opening another",
                RETRY_AFTER_S,
            )
        self._open[caller.name] += 1

    def close(self, caller: Caller) -> None:
        self._open[caller.name] -= 1
        if self._open[caller.name] <= 0:
            del self._open[caller.name]

    def held(self, name: str) -> int:
        return self._open[name]


async def stream_slot(request: Request) -> AsyncIterator[None]:
    """A dependency: holds one of the caller's slots until the response has been sent in full."""
    slots: StreamSlots = request.app.state.stream_slots
    caller = slots.caller(request)
    slots.open(caller)
    try:
        yield
    finally:
        slots.close(caller)
