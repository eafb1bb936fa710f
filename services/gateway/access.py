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
from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.gateway.exceptions import RateLimited
from services.gateway.quotas import WindowCounter
from shared.apikeys import ApiKeys
from shared.settings import Settings

log = logging.getLogger(__name__)

OPEN_PATHS = frozenset({"/healthz", "/readyz", "/", "/status", "/openapi.json", "/docs"})
"""Paths that answer without a key: the probes, which must work before anyone has one; the web
pages' files (with `/static/`: the main page and the operators' page), which are the same for
everyone and hold no data, so that a browser can load the page that asks for the key; and the
API's description (its shape, no data)."""
OPEN_PREFIXES = ("/static/", "/docs/assets/")
PROBES = frozenset({"/healthz", "/readyz"})
"""Kubernetes probes name the pod's address as Host: they are answered whatever it is."""
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
OPERATOR_PATHS = frozenset({"/metrics", "/v1/status"})
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
        # Without keys, a page on any site could reach a gateway on the visitor's machine by
        # pointing its own name at 127.0.0.1 (DNS rebinding): only names it serves are answered.
        default_hosts = ["*"] if keys else [*LOOPBACK_HOSTS, settings.host]
        self._hosts = frozenset(h.lower() for h in (settings.allowed_hosts or default_hosts))
        self._origins = frozenset(o.lower().rstrip("/") for o in settings.allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})

        async def send_nosniff(message: Message) -> None:
            # Browsers must never take a JSON answer (which may quote model text) for a page.
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("x-content-type-options", "nosniff")
            await send(message)

        refusal = await self._refusal(scope, state)
        if refusal is not None:
            await refusal(scope, receive, send_nosniff)
            return
        await self.app(scope, receive, send_nosniff)

    async def _refusal(self, scope: Scope, state: dict[str, object]) -> JSONResponse | None:
        path: str = scope["path"]
        client = _client(scope)
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        if path not in PROBES and not self._host_allowed(host):
            return error(
                400,
                f"this gateway does not serve the host name {host[:100]!r}: use its own address, or list the "
                "name in THINKSTREAM_ALLOWED_HOSTS",
                "invalid_host",
            )
        origin = headers.get("origin")
        if scope["method"] not in SAFE_METHODS and origin is not None and not self._origin_allowed(origin, host, scope):
            return error(
                403,
                f"requests from the page at {origin[:100]!r} may not change anything here: use the gateway's own "
                "page, or list that origin in THINKSTREAM_ALLOWED_ORIGINS",
                "forbidden_origin",
            )
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

    def _host_allowed(self, host: str) -> bool:
        if "*" in self._hosts:
            return True
        return host_name(host) in self._hosts

    def _origin_allowed(self, origin: str, host: str, scope: Scope) -> bool:
        origin = origin.lower().rstrip("/")
        return origin == f"{scope.get('scheme', 'http')}://{host.lower()}" or origin in self._origins

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


def host_name(host: str) -> str:
    """The name in a Host header, without its port: `[::1]:8000` → `::1`, `a.b:80` → `a.b`."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.index("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _why(presented: list[str]) -> str:
    if not presented:
        return "no API key"
    scheme = presented[0].partition(" ")[0]
    return "not a Bearer key" if scheme.lower() != "bearer" else "unknown API key"
