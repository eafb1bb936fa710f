"""Reading an OpenAI streaming chat response (thinkstream's or llama-server's), chunk by chunk."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx


def chunks(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """The response's chunks as they arrive (until `data: [DONE]`); raises on an HTTP error or
    an error chunk."""
    response.raise_for_status()
    for line in response.iter_lines():
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        chunk = json.loads(line[6:])
        if "error" in chunk:
            raise RuntimeError(chunk["error"])
        yield chunk


def has_text(chunk: dict[str, Any]) -> bool:
    """Whether the chunk carries reasoning or answer text."""
    deltas = [choice.get("delta") or {} for choice in chunk.get("choices") or []]
    return any(delta.get("reasoning_content") or delta.get("content") for delta in deltas)
