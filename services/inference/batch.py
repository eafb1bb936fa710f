"""Coalescing a few tokens' deltas into one event, keeping reasoning and answer apart."""

from __future__ import annotations

from typing import Literal

from services.inference.generation import Outcome
from services.inference.splitter import Delta

Kind = Literal["reasoning", "answer"]


class DeltaBatch:
    def __init__(self) -> None:
        self._parts: list[tuple[Kind, list[str]]] = []
        self._sent = {"reasoning": 0, "answer": 0}
        self._counted = {"reasoning": 0, "answer": 0}

    def add(self, deltas: list[Delta], counts: Outcome) -> None:
        self._counted = {"reasoning": counts.reasoning_tokens, "answer": counts.answer_tokens}
        for delta in deltas:
            if self._parts and self._parts[-1][0] == delta.kind:
                self._parts[-1][1].append(delta.text)
            else:
                self._parts.append((delta.kind, [delta.text]))

    def drain(self) -> list[tuple[Kind, str, int]]:
        """The buffered text as (kind, text, tokens covered), in order; empties the batch."""
        out = []
        for kind, texts in self._parts:
            tokens = self._counted[kind] - self._sent[kind]
            self._sent[kind] = self._counted[kind]
            out.append((kind, "".join(texts), tokens))
        self._parts = []
        return out
