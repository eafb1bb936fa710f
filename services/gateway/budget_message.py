"""The budget message a job gets: the request's own, else the server's in the question's language."""

from __future__ import annotations

from collections.abc import Sequence

from shared.schemas import ChatMessage
from shared.settings import Settings

_HAN_RANGES = (
    (0x3400, 0x4DBF),  # CJK Unified Ideographs Extension A
    (0x4E00, 0x9FFF),  # CJK Unified Ideographs
    (0xF900, 0xFAFF),  # CJK Compatibility Ideographs
    (0x20000, 0x3134F),  # Extensions B to G
)


def budget_message(requested: str | None, messages: Sequence[ChatMessage], settings: Settings) -> str:
    """`requested` (None: not given) or the server's default: the Chinese one when the question
    (the last user message) is mostly Chinese characters. Surrounding blanks are trimmed; a
    blank message is none."""
    if requested is not None:
        return requested.strip()
    question = next((m.content for m in reversed(messages) if m.role == "user"), "")
    default = settings.thinking_budget_message_zh if mostly_han(question) else settings.thinking_budget_message
    return default.strip()


def mostly_han(text: str) -> bool:
    """Whether more than half of the text's letters are Han characters. Digits, symbols and
    punctuation do not count, so "解方程 3x + 5 = 20" is Chinese; kana and hangul count as other
    letters, so Japanese written mostly in kana and Korean are not."""
    letters = [c for c in text if c.isalpha()]
    han = sum(1 for c in letters if any(low <= ord(c) <= high for low, high in _HAN_RANGES))
    return han * 2 > len(letters)
