"""What a conversation looks like to the model, and how to recognise its next turn.

Earlier assistant turns reach the model without their reasoning (DeepSeek's rule for R1: the
chain of thought of past turns is not part of the context). The gateway and the worker both
derive a conversation's key from the same normalised messages, so the worker that answered a
turn can be found again when the client sends the next one.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence

from shared.schemas import ChatMessage

_THINK_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL)
_CLOSE = "</think>"


def strip_reasoning(content: str) -> str:
    """An assistant turn's text without any `<think>…</think>` block.

    A `</think>` with no opening tag (R1 templates open the block in the prompt, so the reply
    starts inside it) ends a reasoning prefix: everything up to it is dropped too.
    """
    text = _THINK_BLOCK.sub("", content)
    if _CLOSE in text:
        text = text.split(_CLOSE)[-1]
    return text.strip()


def model_messages(messages: Sequence[ChatMessage]) -> list[ChatMessage]:
    """The conversation as the model sees it: earlier assistant turns without their reasoning."""
    return [
        m.model_copy(update={"content": strip_reasoning(m.content)}) if m.role == "assistant" else m for m in messages
    ]


def conversation_key(messages: Sequence[ChatMessage], start: str = "") -> str:
    """A digest of the conversation so far, chained message by message, so the worker can
    extend a request's key with the answer it wrote: `conversation_key([answer], key)` equals
    the key of the follow-up's history (the earlier messages plus that answer)."""
    key = start
    for m in messages:
        turn = json.dumps([key, m.role, m.content.strip()], ensure_ascii=False)
        key = hashlib.sha256(turn.encode()).hexdigest()[:32]
    return key
