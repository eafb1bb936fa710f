"""One job's generation: the reasoning phase with budget forcing, then the answer.

Budget forcing: when the reasoning reaches `max_reasoning_tokens`, or the model ends its turn
while still reasoning, the worker closes the block itself and lets the model go on to write the
answer. So a job always ends with an answer unless `max_tokens` runs out first. When the budget
cut the reasoning short, the worker first writes the budget message (a sentence such as "I have
to answer now from what I have so far") into the reasoning, as llama-server does: the model reads
it before the closing tag and clients see it as reasoning text. A model that ended its turn
itself was not cut short, and a zero budget has no reasoning to cut: neither gets the message.
A client may also ask for the answer now (`end_reasoning`): the block is closed the same way
after the token being generated when the request is seen, without the budget message.

Resuming: a generation can be restored from the tokens an earlier attempt streamed. They are
replayed through the same steps as live tokens (decoding, the reasoning/answer split, stop
strings, the budget, `max_tokens`), so every piece of state is what it was when the last of them
was streamed, and the model goes on from the prompt plus those tokens.
"""

from __future__ import annotations

import codecs
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from services.inference.engine import Engine, Sampling
from services.inference.splitter import CLOSE_TAG, Delta, ReasoningSplitter
from services.inference.stops import StopMatcher
from shared.schemas import CloseReason, FinishReason, ForcedClose, ReasoningEnd

FORCED_CLOSE = f"\n{CLOSE_TAG}\n\n"
BUDGET_MESSAGE_SEPARATOR = "\n\n"
"""Put before the budget message: the reasoning it follows may stop mid-sentence."""

OnDeltas = Callable[[list[Delta], "Outcome"], bool]
"""Called after every generated token with that token's deltas (often none: text held back) and
the running counts; returns False to stop (the job was cancelled)."""

End = Literal["eos", "budget", "requested", "stop", "length", "canceled"]


@dataclass
class Outcome:
    finish_reason: FinishReason = "stop"
    reasoning_end: ReasoningEnd | None = None
    reasoning_tokens: int = 0
    answer_tokens: int = 0
    first_token_at: float | None = None
    reasoning_end_at: float | None = None
    last_token_at: float | None = None
    tokens: list[int] = field(default_factory=list)
    """Every generated token's id, in order (those of earlier attempts first)."""
    forced_close: ForcedClose | None = None
    kept_tokens: int = 0
    """How many of `tokens` an earlier attempt generated (restored, not generated again)."""
    live_first_at: float | None = None
    """When this attempt generated its first token."""

    @property
    def generated_tokens(self) -> int:
        return self.reasoning_tokens + self.answer_tokens

    @property
    def live_tokens(self) -> int:
        return len(self.tokens) - self.kept_tokens


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
        budget_message: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._engine = engine
        self._prompt = list(prompt)
        self._max_tokens = max_tokens
        self._budget = max_reasoning_tokens
        self._budget_message = budget_message
        self._n_ctx = n_ctx
        self._sampling = sampling
        self._clock = clock
        self._splitter = ReasoningSplitter()
        self._stops = StopMatcher(stop)
        self._decoder = _utf8()
        # The phase the next token belongs to: the reasoning (and the answer, if the model
        # closes the block itself), or the answer after the worker closed the block.
        self._phase_prefix = list(prompt)
        self._phase_start = 0
        self._limit = max_tokens
        self._ended: End | None = None
        self._written: list[Delta] = []
        """Text the worker wrote into the context (the budget message), not yet passed on."""
        self._end_requested = False
        self.outcome = Outcome()

    @property
    def context(self) -> list[int]:
        """The tokens the model's next token follows."""
        return self._phase_prefix + self.outcome.tokens[self._phase_start :]

    @property
    def reasoning(self) -> bool:
        """Whether the next token still belongs to the reasoning."""
        return self._splitter.in_reasoning

    def end_reasoning(self) -> None:
        """A client asked for the answer now: close the reasoning after the current token (or
        before the first, if none was generated yet). Nothing happens once it has ended."""
        self._end_requested = True

    def replay_chunks(self) -> list[list[int]]:
        """The tokens after the prompt (with the worker's closing text) in the pieces the model
        evaluated them in as they were generated: one at a time, the closing text (budget
        message and tag) in one piece (after the budget or a request, with the last reasoning
        token: it was sampled but not evaluated before the close; after the model stopped, its
        end-of-turn was never kept)."""
        tokens = self.outcome.tokens
        close = self.outcome.forced_close
        if close is None:
            return [[t] for t in tokens]
        head, tail = tokens[: close.at_token], tokens[close.at_token :]
        tag = self._closing_tokens(close.reason)
        if close.reason in ("budget", "requested") and head:
            chunks = [[t] for t in head[:-1]] + [[head[-1], *tag]]
        else:
            chunks = [[t] for t in head] + [tag]
        return chunks + [[t] for t in tail]

    def restore(
        self, tokens: Sequence[int], stamps: Sequence[float], forced_close: ForcedClose | None = None
    ) -> list[Delta]:
        """Replay the tokens an earlier attempt streamed (`stamps`: when each was); returns the
        deltas they make, which that attempt already sent. Call before `run`."""
        self._open(stamps[0] if stamps else self._clock())
        replayed: list[Delta] = []
        for index, (token, stamp) in enumerate(zip(tokens, stamps, strict=True)):
            if self._ended is not None:
                break
            if forced_close is not None and index == forced_close.at_token and self.outcome.forced_close is None:
                self._close(forced_close.reason, stamp)
                replayed.extend(self._take_written())
            deltas, end = self._take(token, self._engine.piece(token), stamp)
            replayed.extend(deltas)
            if end is not None:
                self._ended = self._after(end, stamp)
                replayed.extend(self._take_written())
        closes_last = forced_close is not None and forced_close.at_token == len(tokens)
        if closes_last and forced_close is not None and self.outcome.forced_close is None and self._ended is None:
            self._close(forced_close.reason, stamps[-1] if stamps else self._clock())
            replayed.extend(self._take_written())
        self.outcome.kept_tokens = len(self.outcome.tokens)
        return replayed

    def run(self, on_deltas: OnDeltas) -> Outcome:
        out = self.outcome
        self._open(self._clock())
        while self._ended is None:
            self._ended = self._after(self._pump(on_deltas), self._clock())
            if self._written and not on_deltas(self._take_written(), out):
                self._ended = "canceled"
        ended = self._ended
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

    def _open(self, now: float) -> None:
        """A zero budget, or a request to end the reasoning made before it went on, closes the
        block before the next token."""
        if self.outcome.forced_close is not None or not self._splitter.in_reasoning:
            return
        if self._budget == 0:
            self._close("budget", now)
        elif self._end_requested:
            self._close("requested", now)

    def _pump(self, on_deltas: OnDeltas) -> End:
        """Stream until the model stops ("eos"), the phase's limit ("length"), the reasoning
        budget ("budget"), a client's request to answer now ("requested"), a stop sequence
        ("stop") or cancellation ("canceled")."""
        out = self.outcome
        stream = self._engine.stream(self.context, self._sampling)
        try:
            for token, piece in stream:
                now = self._clock()
                if out.live_first_at is None:
                    out.live_first_at = now
                deltas, end = self._take(token, piece, now)
                if not on_deltas(deltas, out):
                    return "canceled"
                if end is not None:
                    return end
                if self._end_requested and self._splitter.in_reasoning:
                    return "requested"
        finally:
            stream.close()  # type: ignore[attr-defined]
        return "eos"

    def _take(self, token: int, piece: bytes, now: float) -> tuple[list[Delta], End | None]:
        """One generated token: count it, split its text, and say whether the phase ends here."""
        out = self.outcome
        if out.first_token_at is None:
            out.first_token_at = now
        out.last_token_at = now
        out.tokens.append(token)
        was_reasoning = self._splitter.in_reasoning
        if was_reasoning:
            out.reasoning_tokens += 1
        else:
            out.answer_tokens += 1
        deltas = self._cut_at_stop(self._splitter.feed(self._decoder.decode(piece)))
        if was_reasoning and not self._splitter.in_reasoning:
            out.reasoning_end = "model"
            out.reasoning_end_at = now
        if self._stops.stopped:
            return deltas, "stop"
        if len(out.tokens) - self._phase_start >= self._limit:
            return deltas, "length"
        if self._splitter.in_reasoning and out.reasoning_tokens >= self._budget:
            return deltas, "budget"
        return deltas, None

    def _after(self, ended: End, now: float) -> End | None:
        """A phase ended: the model stopping, the budget or a request inside the reasoning closes
        the block and the answer phase begins (None: go on); anything else ends the generation."""
        if ended in ("eos", "budget", "requested") and self._splitter.in_reasoning:
            self._close(ended, now)
            return "length" if self._limit <= 0 else None
        return ended

    def _close(self, reason: CloseReason, now: float) -> None:
        out = self.outcome
        self._splitter.close_reasoning()
        out.reasoning_end = reason
        out.reasoning_end_at = now
        out.forced_close = ForcedClose(at_token=len(out.tokens), reason=reason)
        self._phase_prefix = self._prompt + out.tokens + self._closing_tokens(reason)
        self._phase_start = len(out.tokens)
        self._limit = min(self._max_tokens - len(out.tokens), self._n_ctx - len(self._phase_prefix))
        self._decoder = _utf8()  # the answer is a new stream of bytes
        if self._says_budget_message(reason):
            self._written.append(Delta("reasoning", BUDGET_MESSAGE_SEPARATOR + self._budget_message))

    def _says_budget_message(self, reason: CloseReason) -> bool:
        """Only a reasoning the budget cut short gets the message (not a zero budget's)."""
        return reason == "budget" and self._budget > 0 and bool(self._budget_message)

    def _closing_tokens(self, reason: CloseReason) -> list[int]:
        """What the worker writes to close the block: the budget message as plain text (a
        message that spells a control token stays characters), then the closing tag."""
        tag = self._engine.tokenize(FORCED_CLOSE)
        if not self._says_budget_message(reason):
            return tag
        return self._engine.text_tokens(BUDGET_MESSAGE_SEPARATOR + self._budget_message) + tag

    def _take_written(self) -> list[Delta]:
        written, self._written = self._written, []
        return written

    def _cut_at_stop(self, deltas: list[Delta]) -> list[Delta]:
        """Answer text goes through the stop matcher; reasoning is never cut by a stop string."""
        out = []
        for delta in deltas:
            text = self._stops.feed(delta.text) if delta.kind == "answer" else delta.text
            if text:
                out.append(Delta(delta.kind, text))
        return out


def _utf8() -> codecs.IncrementalDecoder:
    return codecs.getincrementaldecoder("utf-8")(errors="replace")
