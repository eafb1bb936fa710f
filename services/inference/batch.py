"""Coalescing a few tokens' deltas into one event, keeping reasoning and answer apart.

Each flush also carries the ids of every token generated since the previous one, so the tokens
a job has streamed are durable in the same write as their text (no round trip of their own).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from services.inference.generation import Outcome
from services.inference.splitter import Delta
from shared.schemas import ForcedClose

Kind = Literal["reasoning", "answer"]


@dataclass
class Part:
    """The text of one event, and what it covers."""

    kind: Kind
    text: str
    tokens: int
    """Generated tokens of this kind since the previous event of this kind."""
    token_ids: list[int] = field(default_factory=list)
    forced_close: ForcedClose | None = None


class DeltaBatch:
    def __init__(self, after: Outcome | None = None) -> None:
        """`after`: the state a restored generation starts from (its tokens already streamed)."""
        base = after or Outcome()
        self._parts: list[tuple[Kind, list[str]]] = []
        self._sent = {"reasoning": base.reasoning_tokens, "answer": base.answer_tokens}
        self._counted = dict(self._sent)
        self._ids_sent = len(base.tokens)
        self._ids: list[int] = []
        self._close_sent = base.forced_close is not None
        self._close: ForcedClose | None = None

    def add(self, deltas: list[Delta], counts: Outcome) -> None:
        self._counted = {"reasoning": counts.reasoning_tokens, "answer": counts.answer_tokens}
        self._ids = counts.tokens
        if counts.forced_close is not None and not self._close_sent:
            self._close = counts.forced_close
        for delta in deltas:
            if self._parts and self._parts[-1][0] == delta.kind:
                self._parts[-1][1].append(delta.text)
            else:
                self._parts.append((delta.kind, [delta.text]))

    def drain(self) -> list[Part]:
        """The buffered text in order, empties the batch. The new token ids go with the last
        part and the forced close with the first; with no text, both wait for the next drain."""
        out = []
        for kind, texts in self._parts:
            tokens = self._counted[kind] - self._sent[kind]
            self._sent[kind] = self._counted[kind]
            out.append(Part(kind, "".join(texts), tokens))
        self._parts = []
        if out:
            out[-1].token_ids = self._ids[self._ids_sent :]
            self._ids_sent = len(self._ids)
            if self._close is not None:
                out[0].forced_close = self._close
                self._close, self._close_sent = None, True
        return out
