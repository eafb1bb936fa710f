"""Reasoning never goes back to the model; a follow-up's history finds the turn it continues."""

from __future__ import annotations

import pytest

from shared.conversation import conversation_key, model_messages, strip_reasoning
from shared.schemas import ChatMessage


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("<think>\nadd them\n</think>\n\nThe answer is 4.", "The answer is 4."),
        ("add them\n</think>\n\nThe answer is 4.", "The answer is 4."),  # R1: the prompt opened the block
        ("The answer is 4.", "The answer is 4."),
        ("<think>a</think>one <think>b</think>two", "one two"),
    ],
)
def test_strip_reasoning(content: str, expected: str) -> None:
    assert strip_reasoning(content) == expected


def test_model_messages_strip_only_assistant_turns() -> None:
    user = ChatMessage(role="user", content="why <think>is</think> this here?")
    messages = model_messages([user, ChatMessage(role="assistant", content="<think>x</think>4")])
    assert messages[0] == user  # a user's text is theirs, tags and all
    assert messages[1].content == "4"


def test_follow_up_history_has_the_key_of_the_answered_turn() -> None:
    turn = [ChatMessage(role="system", content="be brief"), ChatMessage(role="user", content="2+2?")]
    answered = conversation_key([ChatMessage(role="assistant", content="4")], conversation_key(turn))
    follow_up_history = [*turn, ChatMessage(role="assistant", content=" 4\n")]
    assert conversation_key(follow_up_history) == answered
    assert conversation_key([*turn, ChatMessage(role="assistant", content="5")]) != answered
    assert conversation_key(turn[1:]) != conversation_key(turn)
