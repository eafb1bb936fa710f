"""Oldest turns go first; the system messages and the latest user turn always stay."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from services.gateway.fitting import fit_conversation
from shared.exceptions import PromptTooLong
from shared.schemas import ChatMessage


def count(messages: Sequence[ChatMessage]) -> int:
    return sum(len(m.content.split()) for m in messages)


def conversation(turns: int, words: int = 10) -> list[ChatMessage]:
    messages = [ChatMessage(role="system", content="sys " * 5)]
    for i in range(turns):
        messages.append(ChatMessage(role="user", content=f"u{i} " * words))
        messages.append(ChatMessage(role="assistant", content=f"a{i} " * words))
    messages.append(ChatMessage(role="user", content="last " * words))
    return messages


def test_fitting_conversation_is_unchanged() -> None:
    messages = conversation(3)
    fitted = fit_conversation(messages, count, n_ctx=200, wanted=50, needed=10)
    assert fitted.messages == messages and fitted.dropped == 0 and fitted.prompt_tokens == 75


def test_drops_the_fewest_oldest_whole_turns() -> None:
    messages = conversation(5)  # 5 + 5*20 + 10 = 115 tokens
    fitted = fit_conversation(messages, count, n_ctx=100, wanted=30, needed=10)
    # 70 tokens of prompt allowed: system (5) + last (10) + 2 turns (40) = 55; 3 turns = 75 > 70.
    assert fitted.dropped == 6
    assert fitted.messages[0].role == "system"
    assert fitted.messages[1].content.startswith("u3")
    assert fitted.messages[-1].content.startswith("last")
    assert fitted.prompt_tokens == 55


def test_keeps_system_and_latest_turn_with_less_than_wanted_room() -> None:
    messages = conversation(2, words=10)
    fitted = fit_conversation(messages, count, n_ctx=30, wanted=25, needed=10)
    assert [m.role for m in fitted.messages] == ["system", "user"] and fitted.prompt_tokens == 15


def test_latest_turn_alone_too_long_raises_with_counts() -> None:
    messages = [ChatMessage(role="user", content="w " * 100)]
    with pytest.raises(PromptTooLong) as caught:
        fit_conversation(messages, count, n_ctx=64, wanted=32, needed=16)
    assert caught.value.prompt_tokens == 100 and caught.value.max_prompt_tokens == 48
