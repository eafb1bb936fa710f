"""Rules for text that reaches the model, shared by every request schema."""

from __future__ import annotations

from typing import TypeVar

NUL = "\x00"
T = TypeVar("T")


def no_nul(value: T) -> T:
    """Refuse a NUL character: it is never meaningful in a question, and tools downstream (C
    strings, log stores, databases) cut or reject text at it. Anything but a string passes (an
    optional field's None). Lone surrogates need no rule here: pydantic refuses them in every
    `str` field already."""
    position = value.find(NUL) if isinstance(value, str) else -1
    if position >= 0:
        raise ValueError(f"contains a NUL character (\\u0000) at position {position}: remove it")
    return value


def decoded(value: object) -> str:
    """A Redis reply (bytes, or str from a decoding client) as text."""
    return value.decode() if isinstance(value, bytes) else str(value)
