"""One job's generation: the reasoning phase with budget forcing, then the answer.

Budget forcing: when the reasoning reaches `max_reasoning_tokens`, or the model ends its turn
while still reasoning, the worker closes the block itself and lets the model go on to write the
answer. So a job always ends with an answer unless `max_tokens` runs out first.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from services.inference.engine import Engine, Sampling
from services.inference.splitter import CLOSE_TAG, Delta, ReasoningSplitter
from services.inference.stops import StopMatcher
from shared.schemas import FinishReason, ReasoningEnd

FORCED_CLOSE = f"\n{CLOSE_TAG}\n\n"

OnDeltas = Callable[[list[Delta], "Outcome"], bool]
"""Called after every generated token with that token's deltas (often none: text held back) and
the running counts; returns False to stop (the job was cancelled)."""


@dataclass
class Outcome:
    finish_reason: FinishReason = "stop"
    reasoning_end: ReasoningEnd | None = None
    reasoning_tokens: int = 0
    answer_tokens: int = 0
    first_token_at: float | None = None
    reasoning_end_at: float | None = None
    last_token_at: float | None = None

    @property
    def generated_tokens(self) -> int:
        return self.reasoning_tokens + self.answer_tokens


class Generation:
    def __init__(
        self,
        engine: Engine,
        prompt: Sequence[int],
        *,
        max_tokens: int,
        max_reasoning_tokens: int,
        n_ctx: int,
        sampling: Sampling,
        stop: Sequence[str] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._engine = engine
        self._prompt = list(prompt)
        self._max_tokens = max_tokens
        self._budget = max_reasoning_tokens
        self._n_ctx = n_ctx
        self._sampling = sampling
        self._clock = clock
        self._splitter = ReasoningSplitter()
        self._stops = StopMatcher(stop)
        self._generated: list[int] = []
        self.outcome = Outcome()

    def run(self, on_deltas: OnDeltas) -> Outcome:
        out = self.outcome
        ended = "budget" if self._budget == 0 else self._pump(self._prompt, self._max_tokens, on_deltas)
        if ended in ("eos", "budget") and self._splitter.in_reasoning:
            self._splitter.close_reasoning()
            out.reasoning_end = "budget" if ended == "budget" else "eos"
            out.reasoning_end_at = self._clock()
            context = self._prompt + self._generated + self._engine.tokenize(FORCED_CLOSE)
            room = min(self._max_tokens - len(self._generated), self._n_ctx - len(context))
            ended = self._pump(context, room, on_deltas) if room > 0 else "length"
        self._splitter.finish()
        tail = self._stops.finish()
        if tail and ended != "canceled":
            on_deltas([Delta("answer", tail)], out)
        if ended == "canceled":
            out.finish_reason = "canceled"
        elif ended == "length":
            out.finish_reason = "length"
            if self._splitter.in_reasoning:
                out.reasoning_end = "length"
        return out

    def _pump(self, context: list[int], limit: int, on_deltas: OnDeltas) -> str:
        """Stream until the model stops ("eos"), `limit` tokens ("length"), the reasoning budget
        ("budget"), a stop sequence ("stop") or cancellation ("canceled")."""
        out = self.outcome
        count = 0
        stream = self._engine.stream(context, self._sampling)
        try:
            for token, text in stream:
                now = self._clock()
                if out.first_token_at is None:
                    out.first_token_at = now
                out.last_token_at = now
                count += 1
                self._generated.append(token)
                was_reasoning = self._splitter.in_reasoning
                if was_reasoning:
                    out.reasoning_tokens += 1
                else:
                    out.answer_tokens += 1
                deltas = self._cut_at_stop(self._splitter.feed(text))
                if was_reasoning and not self._splitter.in_reasoning:
                    out.reasoning_end = "model"
                    out.reasoning_end_at = now
                if not on_deltas(deltas, out):
                    return "canceled"
                if self._stops.stopped:
                    return "stop"
                if count >= limit:
                    return "length"
                if self._splitter.in_reasoning and out.reasoning_tokens >= self._budget:
                    return "budget"
        finally:
            stream.close()  # type: ignore[attr-defined]
        return "eos"

    def _cut_at_stop(self, deltas: list[Delta]) -> list[Delta]:
        """Answer text goes through the stop matcher; reasoning is never cut by a stop string."""
        out = []
        for delta in deltas:
            text = self._stops.feed(delta.text) if delta.kind == "answer" else delta.text
            if text:
                out.append(Delta(delta.kind, text))
        return out
