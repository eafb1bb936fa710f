"""Fitting a conversation into the context window, oldest turns out first.

The system messages and the latest user turn always stay. Whole turns go (a user message and
the assistant replies after it), so what is left still alternates as the template expects.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from shared.exceptions import PromptTooLong
from shared.schemas import ChatMessage


@dataclass(frozen=True)
class Fitted:
    messages: list[ChatMessage]
    prompt_tokens: int
    dropped: int
    """How many messages were left out."""


def fit_conversation(
    messages: Sequence[ChatMessage],
    count: Callable[[Sequence[ChatMessage]], int],
    *,
    n_ctx: int,
    wanted: int,
    needed: int,
) -> Fitted:
    """Drop the fewest oldest turns so the prompt leaves `wanted` tokens for the reply.

    If even the system messages and the latest user turn leave less than `wanted` but at least
    `needed`, that shorter conversation is used; below `needed`, `PromptTooLong` says by how much.
    """
    system = [m for m in messages if m.role == "system"]
    turns = _turns([m for m in messages if m.role != "system"])

    def build(drop: int) -> list[ChatMessage]:
        return system + [m for turn in turns[drop:] for m in turn]

    tokens = count(messages)
    if tokens + wanted <= n_ctx or len(turns) == 1:
        drop = 0
    else:
        # count(build(k)) falls as k grows: find the smallest k that fits, by bisection.
        low, high = 1, len(turns) - 1
        while low < high:
            middle = (low + high) // 2
            if count(build(middle)) + wanted <= n_ctx:
                high = middle
            else:
                low = middle + 1
        drop = low
        tokens = count(build(drop))
    if tokens + needed > n_ctx:
        raise PromptTooLong(tokens, max(n_ctx - needed, 0), n_ctx, needed)
    kept = build(drop)
    return Fitted(messages=kept, prompt_tokens=tokens, dropped=len(messages) - len(kept))


def _turns(messages: list[ChatMessage]) -> list[list[ChatMessage]]:
    """Group into turns, each starting at a user message (a leading assistant message, if any,
    forms a turn of its own)."""
    turns: list[list[ChatMessage]] = []
    for message in messages:
        if message.role == "user" or not turns:
            turns.append([message])
        else:
            turns[-1].append(message)
    return turns
