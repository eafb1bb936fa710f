"""API keys: who is calling.

Keys are stored as SHA-256 hashes, one `NAME:SHA256HEX` entry each (`thinkstream keys new`
makes a key and its entry); the gateway never sees a key it has not been sent. A key is 256 random
bits, so a plain, unsalted hash is as safe as a password hash would be and costs one digest per
request. When keys are configured, every route but the health probes and the web page's own files
needs `Authorization: Bearer <key>` (checked by `access.AccessControl`), and the key's NAME is the
request's `key_id`: the owner of the jobs, files and batches it creates.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.apikeys import HOW_TO_ADD, ApiKeys


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


async def documented_key(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
    """The app-wide dependency that shows the key scheme in the OpenAPI document. It checks
    nothing: `AccessControl` has decided who is calling before the request got here."""
