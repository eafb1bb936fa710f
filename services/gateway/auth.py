"""API keys: who is calling.

Keys are stored as SHA-256 hashes, one `NAME:SHA256HEX` entry each (`thinkstream keys new`
makes a key and its entry); the gateway never sees a key it has not been sent. A key is 256 random
bits, so a plain, unsalted hash is as safe as a password hash would be and costs one digest per
request. When keys are configured, every route but the health probes and the web page's own files
needs `Authorization: Bearer <key>`, and the key's NAME is the request's `key_id`: the owner of the
jobs, files and batches it creates.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.gateway.exceptions import InvalidApiKey, KeyConfigError
from shared.settings import Settings

OPEN_PATHS = frozenset({"/healthz", "/readyz", "/", "/static/{name}"})
"""Routes (as declared, not as requested) that answer without a key: the probes, which must work
before anyone has one, and the web page's files, which are the same for everyone and hold no data,
so that a browser can load the page that asks for the key. Every route with data needs a key."""
KEY_PREFIX = "ts-"
KEY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
"""Names go into Redis key names and logs: keep them plain."""
_ENTRY = re.compile(r"(?P<name>[^:\s]+):(?P<digest>[0-9a-fA-F]{64})")
_SEPARATORS = re.compile(r"[,\n]")
HOW_TO_ADD = "make a key and its entry with `thinkstream keys new NAME --file FILE`"


def new_key() -> str:
    """A fresh API key: 256 random bits, URL-safe."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_entry(name: str, key: str) -> str:
    """The line to store for a key: its name and hash, never the key."""
    return f"{name}:{key_digest(key)}"


@dataclass(frozen=True)
class ApiKeys:
    digests: Mapping[str, bytes] = field(default_factory=dict)
    """Key name → SHA-256 digest of the key."""

    def __bool__(self) -> bool:
        return bool(self.digests)

    def identify(self, presented: str) -> str | None:
        """The name of the key, or None. Compares with every stored digest in constant time, so
        the answer's timing says nothing about which key came close."""
        digest = hashlib.sha256(presented.encode("utf-8", "surrogateescape")).digest()
        found = None
        for name, expected in self.digests.items():
            if hmac.compare_digest(digest, expected):
                found = name
        return found

    @classmethod
    def parse(cls, text: str, source: str) -> ApiKeys:
        """Entries separated by new lines or commas; blank entries and `#` comments are skipped.
        A malformed entry is an error that names its place, never silently ignored: a gateway
        that dropped a key would lock its owner out, one that kept a plain key would leak it."""
        digests: dict[str, bytes] = {}
        for number, raw in enumerate(_SEPARATORS.split(text), start=1):
            entry = raw.split("#", 1)[0].strip()
            if not entry:
                continue
            match = _ENTRY.fullmatch(entry)
            if match is None:
                raise KeyConfigError(
                    f"{source}, entry {number}: expected NAME:SHA256HEX (the hash, never the key itself); {HOW_TO_ADD}"
                )
            name = match["name"]
            if not KEY_NAME.fullmatch(name):
                raise KeyConfigError(
                    f"{source}, entry {number}: key name {name!r} must be 1-64 letters, digits, '.', '_' or '-'"
                )
            if name in digests:
                raise KeyConfigError(f"{source}, entry {number}: the key name {name!r} is used twice")
            digests[name] = bytes.fromhex(match["digest"])
        return cls(digests)

    @classmethod
    def from_settings(cls, settings: Settings) -> ApiKeys:
        """Every key of `api_keys_file` and `api_key_hashes`; raises `KeyConfigError`."""
        merged: dict[str, bytes] = {}
        sources = []
        if settings.api_keys_file is not None:
            try:
                text = settings.api_keys_file.read_text(encoding="utf-8")
            except OSError as exc:
                raise KeyConfigError(f"THINKSTREAM_API_KEYS_FILE={settings.api_keys_file}: {exc.strerror}") from exc
            sources.append((text, str(settings.api_keys_file)))
        sources.append((settings.api_key_hashes, "THINKSTREAM_API_KEY_HASHES"))
        for text, source in sources:
            for name, digest in cls.parse(text, source).digests.items():
                if name in merged:
                    raise KeyConfigError(f"{source}: the key name {name!r} is also defined elsewhere")
                merged[name] = digest
        return cls(merged)


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
