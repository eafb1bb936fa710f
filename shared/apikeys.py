"""API keys as the operator keeps them: `NAME:SHA256HEX` entries, one per key.

Keys are stored as SHA-256 hashes (`thinkstream keys new` makes a key and its entry); nothing
ever stores a key. A key is 256 random bits, so a plain, unsalted hash is as safe as a password
hash would be and costs one digest per request. The gateway checks keys against these entries;
the CLI writes them. Kept apart from the gateway so that the CLI and the workers never load it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from shared.exceptions import KeyConfigError, PriorityNotAllowed
from shared.settings import Settings

KEY_PREFIX = "ts-"
KEY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
"""Names go into Redis key names and logs: keep them plain."""
_ENTRY = re.compile(r"(?P<name>[^:\s]+):(?P<digest>[0-9a-fA-F]{64})(?P<options>(?::[a-z_]+=[a-z]+)*)")
Priority = Literal["high", "normal", "low"]
PRIORITY_ORDER: tuple[Priority, ...] = ("high", "normal", "low")
OPTIONS = {"priority", "max_priority"}
_SEPARATORS = re.compile(r"[,\n]")
HOW_TO_ADD = "make a key and its entry with `thinkstream keys new NAME --file FILE`"


def new_key() -> str:
    """A fresh API key: 256 random bits, URL-safe."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_entry(name: str, key: str, *, priority: Priority | None = None, max_priority: Priority | None = None) -> str:
    """The line to store for a key: its name and hash, never the key; then its options, e.g.
    `:priority=low:max_priority=normal` (the priority its jobs get by default, the highest
    one it may ask for)."""
    options = "".join(
        f":{name_}={value}" for name_, value in (("priority", priority), ("max_priority", max_priority)) if value
    )
    return f"{name}:{key_digest(key)}{options}"


@dataclass(frozen=True)
class KeyPolicy:
    """What one key's jobs get: a default priority and the highest it may ask for."""

    priority: Priority = "normal"
    max_priority: Priority = "high"

    def resolve(self, requested: Priority | None) -> Priority:
        """The priority of a job that asked for `requested` (None: the key's default); raises
        `PriorityNotAllowed` above the key's ceiling."""
        chosen = requested or self.priority
        if PRIORITY_ORDER.index(chosen) < PRIORITY_ORDER.index(self.max_priority):
            raise PriorityNotAllowed(chosen, self.max_priority)
        return chosen


@dataclass(frozen=True)
class ApiKeys:
    digests: Mapping[str, bytes] = field(default_factory=dict)
    """Key name → SHA-256 digest of the key."""
    policies: Mapping[str, KeyPolicy] = field(default_factory=dict)

    def policy(self, name: str | None) -> KeyPolicy:
        return self.policies.get(name, KeyPolicy()) if name is not None else KeyPolicy()

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
        policies: dict[str, KeyPolicy] = {}
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
            policies[name] = _policy(match["options"], f"{source}, entry {number}")
        return cls(digests, policies)

    @classmethod
    def from_settings(cls, settings: Settings) -> ApiKeys:
        """Every key of `api_keys_file` and `api_key_hashes`; raises `KeyConfigError`."""
        merged: dict[str, bytes] = {}
        policies: dict[str, KeyPolicy] = {}
        sources = []
        if settings.api_keys_file is not None:
            try:
                text = settings.api_keys_file.read_text(encoding="utf-8")
            except OSError as exc:
                raise KeyConfigError(f"THINKSTREAM_API_KEYS_FILE={settings.api_keys_file}: {exc.strerror}") from exc
            sources.append((text, str(settings.api_keys_file)))
        sources.append((settings.api_key_hashes, "THINKSTREAM_API_KEY_HASHES"))
        for text, source in sources:
            parsed = cls.parse(text, source)
            for name, digest in parsed.digests.items():
                if name in merged:
                    raise KeyConfigError(f"{source}: the key name {name!r} is also defined elsewhere")
                merged[name] = digest
                policies[name] = parsed.policy(name)
        return cls(merged, policies)


def _policy(options: str, where: str) -> KeyPolicy:
    values: dict[str, str] = {}
    for option in filter(None, options.split(":")):
        name, _, value = option.partition("=")
        if name not in OPTIONS:
            raise KeyConfigError(f"{where}: unknown option {name!r}; known: {', '.join(sorted(OPTIONS))}")
        if value not in PRIORITY_ORDER:
            raise KeyConfigError(f"{where}: {name}={value!r} is not one of {', '.join(PRIORITY_ORDER)}")
        values[name] = value
    policy = KeyPolicy(**values)  # type: ignore[arg-type]
    if PRIORITY_ORDER.index(policy.priority) < PRIORITY_ORDER.index(policy.max_priority):
        raise KeyConfigError(f"{where}: priority={policy.priority} is above max_priority={policy.max_priority}")
    return policy
