"""Connections that never finish a request are closed.

uvicorn waits forever for a request's headers, so a client that sends them a byte every few
seconds (slowloris) holds a connection for good. The gateway's protocol gives the headers of each
request `header_timeout_s` from the first byte of the request (or from the connection's start),
and answers 408 after that. Bodies get the same treatment per chunk in `body_limit.py`, and the
number of connections is capped by uvicorn's `limit_concurrency` (503 past it).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

TIMEOUT_BODY = json.dumps(
    {
        "error": {
            "message": "the request's headers did not arrive in time: send the whole request at once",
            "type": "invalid_request_error",
            "code": "request_timeout",
        }
    }
).encode()


def guarded_protocol(header_timeout_s: float) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol (its C parser: about 0.25 ms less per request than h11's),
    closing connections whose request headers are too slow."""

    class GuardedProtocol(HttpToolsProtocol):
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            if not self._in_request() and self._header_timer is None:
                self._arm()  # the first bytes of the next request on a kept-alive connection
            super().data_received(data)
            if self._in_request():
                self._disarm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _in_request(self) -> bool:
            return self.cycle is not None and not self.cycle.response_complete

        def _arm(self) -> None:
            self._header_timer = self.loop.call_later(header_timeout_s, self._headers_too_slow)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            if self._in_request() or self.transport.is_closing():
                return
            head = (
                b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
                + f"content-length: {len(TIMEOUT_BODY)}\r\n\r\n".encode()
            )
            self.transport.write(head + TIMEOUT_BODY)
            self.transport.close()

    return GuardedProtocol


def protocol_options(settings: Any) -> dict[str, Any]:
    """uvicorn.Config options that bound connections."""
    return {
        "http": guarded_protocol(settings.header_timeout_s),
        "limit_concurrency": settings.max_connections,
    }
