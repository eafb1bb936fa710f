"""Who may call, decided in front of routing, before any body is read.

An ASGI middleware, so that a request without a valid key is refused before FastAPI parses its
body (a multipart upload is parsed by the framework before any dependency runs). It sets the
request's `key_id` (the key's name; None without keys), and applies the limits that do not need
the body: requests per minute per key, requests per minute per client address for everything
sent without a valid key, a throttle on failed keys (each logged), and the operator-only routes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from redis.exceptions import RedisError
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from services.gateway.exceptions import RateLimited
from services.gateway.quotas import WindowCounter
from shared.apikeys import ApiKeys
from shared.settings import Settings

log = logging.getLogger(__name__)

OPEN_PATHS = frozenset({"/healthz", "/readyz", "/", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})
"""Paths that answer without a key: the probes, which must work before anyone has one; the web
page's files (with `/static/`), which are the same for everyone and hold no data, so that a
browser can load the page that asks for the key; and the API's description (its shape, no data)."""
OPEN_PREFIXES = ("/static/",)
OPERATOR_PATHS = frozenset({"/metrics"})
"""Routes that name workers and hosts: only the keys listed in `operator_keys` may read them."""


def is_open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


def error(status: int, message: str, code: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": _TYPES.get(status, "invalid_request_error"), "code": code}}
    return JSONResponse(body, status_code=status, headers={"X-Content-Type-Options": "nosniff", **(headers or {})})


_TYPES = {429: "rate_limit_error", 503: "server_error"}


class AccessControl:
    def __init__(self, app: ASGIApp, *, keys: ApiKeys, settings: Settings) -> None:
        self.app = app
        self._keys = keys
        self._settings = settings
        self._operators = frozenset(settings.operator_keys)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        refusal = await self._refusal(scope, state)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _refusal(self, scope: Scope, state: dict[str, object]) -> JSONResponse | None:
        path: str = scope["path"]
        client = _client(scope)
        if is_open(path):
            state.setdefault("key_id", None)
            return None
        counters = self._counters(scope)
        try:
            if not self._keys:
                # Without keys every caller is one owner; a key id set by something in front
                # (an authenticating proxy's adapter, the tests) is kept.
                state.setdefault("key_id", None)
                await counters.clients.check(client)
                return None
            state["key_id"] = None
            presented = Headers(scope=scope).getlist("authorization")
            if len(presented) > 1:
                return error(400, "send one Authorization header, not several", "ambiguous_credentials")
            await counters.failures.peek(client)  # a client that keeps guessing is slowed down
            key_id = self._identify(presented)
            if key_id is None:
                await counters.failures.count(client)
                log.warning("refused a request from %s to %s: %s", client, path, _why(presented))
                return error(
                    401,
                    "this gateway needs a valid API key: send the header `Authorization: Bearer <key>` "
                    "(OpenAI clients: api_key=...; ask the operator for a key)"
                    if not presented
                    else "the API key is not valid: check it for typos, or ask the operator for a new one",
                    "invalid_api_key",
                    {"WWW-Authenticate": "Bearer"},
                )
            state["key_id"] = key_id
            await counters.keys.check(key_id)
        except RateLimited as exc:
            return error(429, str(exc), "rate_limit_exceeded", {"Retry-After": str(exc.retry_after_s)})
        except RedisError as exc:
            return error(503, f"the rate limiter cannot reach Redis: {exc}; try again in a few seconds", "unavailable")
        if path in OPERATOR_PATHS and key_id not in self._operators:
            return error(
                403,
                f"{path} is for operators: list the key's name in THINKSTREAM_OPERATOR_KEYS to let it read this",
                "forbidden",
            )
        return None

    def _identify(self, presented: Iterable[str]) -> str | None:
        for value in presented:
            scheme, _, credentials = value.partition(" ")
            if scheme.lower() == "bearer" and credentials.strip():
                return self._keys.identify(credentials.strip())
        return None

    def _counters(self, scope: Scope) -> _Counters:
        app_state = scope["app"].state
        counters: _Counters | None = getattr(app_state, "access_counters", None)
        if counters is None:
            counters = _Counters(app_state.redis, self._settings)
            app_state.access_counters = counters
        return counters


class _Counters:
    """The per-minute windows, over the gateway's Redis (every replica counts the same)."""

    def __init__(self, redis: object, settings: Settings) -> None:
        self.keys = WindowCounter(
            redis, "key", settings.key_requests_per_minute, "requests this minute (THINKSTREAM_KEY_REQUESTS_PER_MINUTE)"
        )
        self.clients = WindowCounter(
            redis,
            "client",
            settings.client_requests_per_minute,
            "requests without an API key this minute (THINKSTREAM_CLIENT_REQUESTS_PER_MINUTE)",
        )
        self.failures = WindowCounter(
            redis,
            "failed",
            settings.failed_keys_per_minute,
            "requests with a wrong API key this minute (THINKSTREAM_FAILED_KEYS_PER_MINUTE); check the key",
        )


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _why(presented: list[str]) -> str:
    if not presented:
        return "no API key"
    scheme = presented[0].partition(" ")[0]
    return "not a Bearer key" if scheme.lower() != "bearer" else "unknown API key"
