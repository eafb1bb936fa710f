"""What every owner's prompt starts with: the operator's system prompt and the chat template's
fixed opening. These tokens are the only ones the KV cache reuses across API keys."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from services.inference.kv_cache import common_prefix
from shared.schemas import ChatMessage

PROBES = ("x", "y")
"""Two user turns that differ from their first character: what their prompts share is text no
user wrote."""


def with_system_prompt(messages: Sequence[ChatMessage], system_prompt: str | None) -> list[ChatMessage]:
    """The messages a job's prompt is rendered from: the operator's system prompt first, unless
    the job brings a system turn of its own."""
    if system_prompt is None or any(m.role in ("system", "developer") for m in messages):
        return list(messages)
    return [ChatMessage(role="system", content=system_prompt), *messages]


def shared_prefixes(render: Callable[[Sequence[ChatMessage]], list[int]], system_prompt: str | None) -> list[list[int]]:
    """The token prefixes every owner's prompts begin with: the template's opening without a
    system prompt and, when one is configured, with the operator's."""
    prefixes = []
    for system in {None, system_prompt}:
        first, second = (
            render(with_system_prompt([ChatMessage(role="user", content=probe)], system)) for probe in PROBES
        )
        prefixes.append(first[: common_prefix(first, second)])
    return prefixes
