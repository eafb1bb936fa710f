"""A cap on request body size, enforced before anything parses the body.

A body announced larger than the cap (`Content-Length`) is refused without reading it; a body
without a length (chunked) is counted as it arrives and refused as soon as it passes the cap.
Either way the client gets 413 with the cap in the message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(HTTPException):
    """Raised from `receive` when a body passes the cap. An `HTTPException`, so FastAPI's body
    parsing lets it through (any other error there becomes a generic 400)."""

    def __init__(self, limit: Limit) -> None:
        self.limit = limit
        super().__init__(413, too_large_message(limit))


@dataclass(frozen=True)
class Limit:
    max_bytes: int
    advice: str
    """What to send instead, and the setting that moves the limit."""


def too_large_message(limit: Limit) -> str:
    size = f"{limit.max_bytes / (1 << 20):g} MiB ({limit.max_bytes} bytes)"
    return f"the request body is larger than {size}, the most accepted here: {limit.advice}"


def too_large_response(limit: Limit) -> JSONResponse:
    body = {
        "error": {
            "message": too_large_message(limit),
            "type": "invalid_request_error",
            "code": "request_too_large",
            "limit_bytes": limit.max_bytes,
        }
    }
    return JSONResponse(body, status_code=413, headers={"Connection": "close"})


class BodyTooSlow(HTTPException):
    """Raised from `receive` when the next chunk of a body does not come in time."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        super().__init__(408, too_slow_message(timeout_s))


def too_slow_message(timeout_s: float) -> str:
    return (
        f"the request body stopped arriving: no data for {timeout_s:g} s (THINKSTREAM_BODY_TIMEOUT_S); "
        "send the body at once"
    )


def too_slow_response(timeout_s: float) -> JSONResponse:
    body = {
        "error": {"message": too_slow_message(timeout_s), "type": "invalid_request_error", "code": "request_timeout"}
    }
    return JSONResponse(body, status_code=408, headers={"Connection": "close"})


class BodySizeLimit:
    """ASGI middleware. `overrides` maps path prefixes to their own limits (uploads)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limit: Limit,
        overrides: Mapping[str, Limit] | None = None,
        body_timeout_s: float = 30.0,
    ) -> None:
        self.app = app
        self.limit = limit
        self.body_timeout_s = body_timeout_s
        """Longest wait for the next chunk of a body; a slower client gets 408."""
        self.overrides = dict(overrides or {})

    def limit_for(self, path: str) -> Limit:
        for prefix, limit in self.overrides.items():
            if path.startswith(prefix):
                return limit
        return self.limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        announced = Headers(scope=scope).get("content-length")
        if announced is not None and announced.isdigit() and int(announced) > limit.max_bytes:
            await too_large_response(limit)(scope, receive, send)
            return

        received = 0
        started = False
        body_done = scope.get("method") in ("GET", "HEAD", "DELETE", "OPTIONS")

        async def counted_receive() -> Message:
            nonlocal received, body_done
            if body_done:  # after the body, `receive` only waits for the client to go away
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.body_timeout_s)
            except TimeoutError:
                raise BodyTooSlow(self.body_timeout_s) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit.max_bytes:
                    raise BodyTooLarge(limit)
                body_done = not message.get("more_body", False)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge:
            if started:
                raise
            await too_large_response(limit)(scope, receive, send)
        except BodyTooSlow as exc:
            if started:
                raise
            await too_slow_response(exc.timeout_s)(scope, receive, send)
