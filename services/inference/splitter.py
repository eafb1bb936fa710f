"""Streaming split of generated text into reasoning and answer.

The prompt always opens the `<think>` block (R1-distill templates do it themselves; for other
models the worker appends the tag), so generation starts inside the reasoning and the model's
output normally has no opening tag. The splitter holds back anything that might still turn out
to be part of a tag, or whitespace that would only matter if more text followed, so the split is
the same however the text is chunked and no tag fragment ever reaches a client.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal

OPEN_TAG = "<think>"
CLOSE_TAG = "</think>"


@dataclass(frozen=True)
class Delta:
    kind: Literal["reasoning", "answer"]
    text: str


class _State(enum.Enum):
    REASONING_START = "reasoning-start"  # nothing emitted yet: skip whitespace and a stray <think>
    REASONING = "reasoning"
    ANSWER_START = "answer-start"  # after </think>: skip whitespace
    ANSWER = "answer"


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest end of `text` that is a proper start of `tag`."""
    for size in range(min(len(text), len(tag) - 1), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0


class ReasoningSplitter:
    def __init__(self, open_tag: str = OPEN_TAG, close_tag: str = CLOSE_TAG) -> None:
        self._open = open_tag
        self._close = close_tag
        self._state = _State.REASONING_START
        self._pending = ""
        self._open_seen = False

    @property
    def in_reasoning(self) -> bool:
        return self._state in (_State.REASONING_START, _State.REASONING)

    def feed(self, text: str) -> list[Delta]:
        out: list[Delta] = []
        buf = self._pending + text
        self._pending = ""
        while buf:
            buf = self._step(buf, out)
        return out

    def close_reasoning(self) -> list[Delta]:
        """End the reasoning here (budget reached, or the model stopped while reasoning).

        A held-back tag fragment is dropped: the block is being closed anyway.
        """
        if self.in_reasoning:
            self._pending = ""
            self._state = _State.ANSWER_START
        return []

    def finish(self) -> list[Delta]:
        """The stream has ended: drop held-back whitespace and tag fragments."""
        self._pending = ""
        return []

    def _step(self, buf: str, out: list[Delta]) -> str:
        """Consume a prefix of `buf`, append deltas, return what is left to process now."""
        if self._state is _State.REASONING_START:
            stripped = buf.lstrip()
            if not stripped:
                return ""
            if not self._open_seen and stripped.startswith(self._open):
                self._open_seen = True
                return stripped[len(self._open) :]
            if not self._open_seen and self._open.startswith(stripped):
                self._pending = stripped
                return ""
            self._state = _State.REASONING
            return stripped
        if self._state is _State.REASONING:
            at = buf.find(self._close)
            if at >= 0:
                _emit(out, "reasoning", buf[:at].rstrip())
                self._state = _State.ANSWER_START
                return buf[at + len(self._close) :]
            keep = _partial_suffix(buf, self._close)
            head = buf[: len(buf) - keep]
            body = head.rstrip()
            _emit(out, "reasoning", body)
            self._pending = head[len(body) :] + buf[len(head) :]
            return ""
        if self._state is _State.ANSWER_START:
            stripped = buf.lstrip()
            if stripped:
                self._state = _State.ANSWER
            return stripped
        # A model that writes a reasoning tag again inside its answer (small ones do) gets it
        # removed: a tag is markup, never part of the answer.
        buf = buf.replace(self._close, "").replace(self._open, "")
        keep = max(_partial_suffix(buf, self._close), _partial_suffix(buf, self._open))
        head = buf[: len(buf) - keep]
        body = head.rstrip()
        _emit(out, "answer", body)
        self._pending = head[len(body) :] + buf[len(head) :]
        return ""


def _emit(out: list[Delta], kind: Literal["reasoning", "answer"], text: str) -> None:
    if not text:
        return
    if out and out[-1].kind == kind:
        out[-1] = Delta(kind, out[-1].text + text)
    else:
        out.append(Delta(kind, text))
