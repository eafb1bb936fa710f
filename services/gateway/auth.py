"""API keys: who is calling.

Keys are stored as SHA-256 hashes, one `NAME:SHA256HEX` entry each (`thinkstream keys new`
makes a key and its entry); the gateway never sees a key it has not been sent. A key is 256 random
bits, so a plain, unsalted hash is as safe as a password hash would be and costs one digest per
request. When keys are configured, every route but the health probes and the web page's own files
needs `Authorization: Bearer <key>`, and the key's NAME is the request's `key_id`: the owner of the
jobs, files and batches it creates.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.gateway.exceptions import InvalidApiKey
from shared.apikeys import HOW_TO_ADD, ApiKeys

OPEN_PATHS = frozenset({"/healthz", "/readyz", "/", "/static/{name}"})
"""Routes (as declared, not as requested) that answer without a key: the probes, which must work
before anyone has one, and the web page's files, which are the same for everyone and hold no data,
so that a browser can load the page that asks for the key. Every route with data needs a key."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def listen_refusal(host: str, keys: ApiKeys, *, allow_no_auth: bool) -> str | None:
    """Why the gateway must not listen on `host`, or None: without keys, only loopback, unless
    the operator says otherwise."""
    if keys or allow_no_auth or is_loopback(host):
        return None
    return (
        f"refusing to listen on {host} without API keys: anyone who can reach it could use it. "
        f"Configure keys (THINKSTREAM_API_KEYS_FILE or THINKSTREAM_API_KEY_HASHES; {HOW_TO_ADD}), "
        "listen on 127.0.0.1, or pass --insecure-no-auth (THINKSTREAM_ALLOW_NO_AUTH=true) "
        "if something in front of the gateway checks who calls"
    )


_bearer = HTTPBearer(
    auto_error=False,
    description="An API key made with `thinkstream keys new`; needed when the gateway has keys "
    "(not for /healthz, /readyz and the web page's files).",
)


async def authenticate(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """The app-wide dependency: sets `request.state.key_id` (the key's name, None when keys are
    off or on an open route), raises `InvalidApiKey`, and counts the request against the key's
    requests per minute."""
    keys: ApiKeys = request.app.state.api_keys
    if not keys:
        # Keys off: keep a key id that a middleware in front set (tests do; so may an
        # authenticating proxy's adapter). With keys on, nothing but the key decides.
        request.state.key_id = getattr(request.state, "key_id", None)
        return
    request.state.key_id = None
    if getattr(request.scope.get("route"), "path", None) in OPEN_PATHS:
        return
    if credentials is None:
        raise InvalidApiKey(
            "this gateway needs an API key: send the header `Authorization: Bearer <key>` "
            "(OpenAI clients: api_key=...; ask the operator for a key)"
        )
    key_id = keys.identify(credentials.credentials)
    if key_id is None:
        raise InvalidApiKey("the API key is not valid: check it for typos, or ask the operator for a new one")
    request.state.key_id = key_id
    await request.app.state.request_limit.check(key_id)
