"""Continuous batching: one model context, several jobs decoded together.

Each job in flight holds one sequence of the context (a slot). One decode thread runs steps;
a step is a single batched evaluation, either the next token of every sequence that is
generating, or a piece of one joining sequence's prompt (at most `chunk_tokens`). While a
prompt is read, prompt steps and generation steps alternate, so the streams already running
go on. A sequence that ends or is closed leaves before the next step; a new one joins at the
next step.

A prompt piece never shares a step with another sequence: llama.cpp splits a batch of several
sequences into equal parts per sequence (`split_equal`), so a prompt evaluated beside others
would be cut where their lengths fall, and its last token, evaluated in a smaller piece, rounds
differently (a greedy text then takes another turn than it does alone). Evaluated on its own,
a prompt is cut only by `chunk_tokens`, whatever else runs; and a generating sequence's
logits do not depend on the other sequences in its step (`tests/integration/test_slots.py`
checks both bit for bit).

A job talks to its slot through `Batcher.stream()`, an iterator of `(token, bytes)` like
`Engine.stream`, so it runs the very same generation code as in a worker of one job at a time.
Each sequence keeps what it evaluated after its job ends: the next job is given the free
sequence that shares the longest prefix with its prompt (a conversation's next turn finds its
own), and evaluates only the rest.

The model behind the steps is a `Backend` (llama.cpp in `batched_llama.py`; a scripted one in
the unit tests).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from services.inference.engine import Sampling
from services.inference.exceptions import SlotError
from services.inference.kv_cache import FRESH_TAIL_TOKENS, common_prefix

log = logging.getLogger(__name__)

LOOKAHEAD_TOKENS = 2
"""Tokens a sequence may run ahead of its job: the job's work on one token (splitting, stop
strings, Redis) overlaps the evaluation of the next. At most this many are computed in vain
when a job stops."""


@dataclass(frozen=True)
class Row:
    """One sequence's part of a step: `tokens` evaluated at positions `pos`, `pos + 1`, ..."""

    seq: int
    pos: int
    tokens: list[int]
    sample: bool
    """Sample the token that follows the last of `tokens` (with the sequence's sampler)."""


class Backend(Protocol):
    n_seq: int
    """Sequences the context holds."""
    n_batch: int
    """Tokens one step may evaluate, over all sequences."""

    def step(self, rows: Sequence[Row]) -> dict[int, int]:
        """Evaluate `rows` in one batch; returns the sampled token of each row that asks for one,
        by sequence. Raises `SlotError` if the model cannot evaluate them."""
        ...

    def set_sampling(self, seq: int, sampling: Sampling) -> None:
        """Sample the sequence's next tokens this way (a fresh sampler: seeded anew)."""
        ...

    def truncate(self, seq: int, keep: int) -> None:
        """Forget everything the sequence evaluated from position `keep` on."""
        ...

    def is_end(self, token: int) -> bool: ...

    def piece(self, token: int) -> bytes: ...


class _End:
    """Marks the end of a stream in a slot's output: the model ended its turn."""


END = _End()


@dataclass(frozen=True)
class _Save:
    save: Callable[[], bytes]
    keep: Callable[[list[int], bytes], None]


@dataclass(eq=False)
class _Slot:
    seq: int
    kv: list[int] = field(default_factory=list)
    """The tokens the sequence holds, position by position."""
    leased: bool = False
    owner: str = ""
    """The API key whose prompts `kv` holds."""
    scope: str = ""
    """The adapter `kv` was computed with."""
    last_used: int = 0
    # The open stream, if any:
    stream: int = 0
    """Which stream is open (0: none); results of a step for a stream closed since are dropped."""
    plan: deque[tuple[list[int], bool]] = field(default_factory=deque)
    """Pieces still to evaluate before the next token is sampled: (tokens, whole) where a whole
    piece is evaluated in one step of its own (an exact resume's chunks)."""
    next_token: int | None = None
    """Sampled and handed to the job, not yet evaluated."""
    out: deque[tuple[int, bytes] | _End | BaseException] = field(default_factory=deque)
    in_flight: bool = False
    saving: _Save | None = None
    """A save of what the sequence holds, to be taken between two steps (`save_later`)."""


class Batcher:
    """The slots of one context and the decode thread that steps them."""

    def __init__(
        self,
        backend: Backend,
        *,
        chunk_tokens: int = 128,
        lookahead: int = LOOKAHEAD_TOKENS,
        shared_prefixes: Sequence[Sequence[int]] = (),
    ) -> None:
        """`shared_prefixes`: what every owner's prompts start with, the only tokens a sequence
        keeps from one owner's job for another's (`shared_prefix.py`)."""
        self.backend = backend
        self._shared = [list(prefix) for prefix in shared_prefixes]
        self._chunk = max(1, chunk_tokens)
        self._lookahead = max(1, lookahead)
        self._slots = [_Slot(seq) for seq in range(backend.n_seq)]
        mutex = threading.RLock()
        self._cond = threading.Condition(mutex)
        """The decode thread waits here for work, and jobs for their sequence to be idle or for
        an adapter."""
        self._ready = [threading.Condition(mutex) for _ in self._slots]
        """A job waits here for its sequence's next token: a step wakes only the jobs it gave a
        token (on two cores, every thread woken in vain takes a core from decoding)."""
        self.lock = threading.RLock()
        """Held around every use of the backend's context (steps, saving and loading states)."""
        self._closed = False
        self._streams = 0
        self._uses = 0
        self._scope = ""
        self._scope_holders = 0
        self._scope_waiters: list[str] = []
        self.steps = 0
        self.evaluated_tokens = 0
        self._prompt_turn = True
        """Whether a joining prompt's piece goes before the generating sequences' next step."""
        self._thread = threading.Thread(target=self._run, name="batched-decode", daemon=True)
        self._thread.start()

    @property
    def n_slots(self) -> int:
        return len(self._slots)

    def busy(self) -> int:
        """Sequences leased to jobs now."""
        with self._cond:
            return sum(slot.leased for slot in self._slots)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            for ready in self._ready:
                ready.notify_all()
        self._thread.join(timeout=10)

    # Adapters: llama.cpp applies a LoRA adapter to the whole context, so all sequences in flight
    # compute with the same one. A job with another waits until the jobs before it are done;
    # jobs that come after it wait for it (no starvation).

    def enter_scope(self, scope: str, switch: Callable[[], None]) -> None:
        """Wait until the context may compute with adapter `scope`, switching to it (`switch`)
        when no job holds another; the caller holds the scope until `leave_scope`."""
        with self._cond:
            self._scope_waiters.append(scope)
            try:
                while not self._may_enter(scope):
                    self._cond.wait()
            finally:
                self._scope_waiters.remove(scope)
            if scope != self._scope:
                with self.lock:
                    switch()
                self._scope = scope
            self._scope_holders += 1

    def leave_scope(self) -> None:
        with self._cond:
            self._scope_holders -= 1
            self._cond.notify_all()

    def _may_enter(self, scope: str) -> bool:
        ahead = self._scope_waiters[: self._scope_waiters.index(scope)]
        if any(other != scope for other in ahead):
            return False
        return self._scope_holders == 0 or self._scope == scope

    # Leases: a job holds one sequence from `lease` to `release`.

    def lease(self, tokens: Sequence[int], owner: str = "") -> tuple[int, int]:
        """Take the free sequence sharing the longest prefix with `tokens` (computed with the
        current adapter); returns it and that prefix's length. Across owners (API keys) only a
        shared prefix held whole counts, and the rest of the sequence is dropped: how much of
        another key's prompt a job could reuse would show in its timing."""
        with self._cond:
            free = [slot for slot in self._slots if not slot.leased]
            if not free:
                raise SlotError(f"all {len(self._slots)} sequences are in use")

            def shared(slot: _Slot) -> int:
                if slot.scope != self._scope:
                    return 0
                if slot.owner == owner:
                    return common_prefix(slot.kv, tokens)
                whole = (len(p) for p in self._shared if _starts(slot.kv, p) and _starts(tokens, p))
                return max(whole, default=0)

            # As llama-server does: the sequence holding most of the prompt, if one holds at
            # least half of it; else the one unused longest (its state is likely saved too).
            best = max(free, key=lambda slot: (shared(slot), -slot.last_used))
            if 2 * shared(best) < len(tokens):
                best = min(free, key=lambda slot: (bool(slot.kv), slot.last_used))
            best.leased = True
            self._uses += 1
            best.last_used = self._uses
            cached = shared(best)
            if best.scope != self._scope or best.owner != owner:
                self._wait_idle(best)
                self._wait_saved(best)
                with self.lock:
                    self.backend.truncate(best.seq, cached)
                best.kv, best.scope, best.owner = best.kv[:cached], self._scope, owner
            return best.seq, cached

    def release(self, seq: int) -> None:
        with self._cond:
            slot = self._slots[seq]
            self._close_stream(slot)
            slot.leased = False
            self._cond.notify_all()

    def held(self, seq: int) -> list[int]:
        """The tokens the sequence holds now."""
        with self._cond:
            return list(self._slots[seq].kv)

    def replace(self, seq: int, tokens: Sequence[int], load: Callable[[], None]) -> None:
        """Make the (leased, idle) sequence hold `tokens` by `load`ing a saved state into it."""
        with self._cond:
            slot = self._slots[seq]
            self._wait_idle(slot)
            self._wait_saved(slot)
            with self.lock:
                load()
            slot.kv = list(tokens)

    def save_later(self, seq: int, save: Callable[[], bytes], keep: Callable[[list[int], bytes], None]) -> None:
        """Have the decode thread `save` what the (leased) sequence holds before its next step,
        and hand its tokens and that state to `keep`; returns at once. Saving waits for the step
        in flight (about 30 ms with four jobs on two cores): the job that ends need not, and
        its answer goes to the checker meanwhile. Nothing changes the sequence before the save
        is taken (a new lease, prompt or loaded state waits for it)."""
        with self._cond:
            slot = self._slots[seq]
            if not slot.leased:
                raise SlotError(f"sequence {seq} is not leased")
            slot.saving = _Save(save, keep)
            self._cond.notify_all()

    # Streams.

    def stream(
        self, seq: int, context: Sequence[int], sampling: Sampling, pieces: Sequence[Sequence[int]] = ()
    ) -> Iterator[tuple[int, bytes]]:
        """Generate after `context` on sequence `seq`: `(token, bytes)` per token until the model
        ends its turn; close the iterator to stop. What the sequence already holds of `context`
        is kept. `pieces`: how to evaluate the end of `context` (each piece in a step of its
        own, as an exact resume needs; pieces the sequence holds already are evaluated again)."""
        if not context:
            raise SlotError("a stream needs at least one context token")
        stream_id = self._open(seq, list(context), sampling, [list(p) for p in pieces])
        slot, ready = self._slots[seq], self._ready[seq]
        try:
            while True:
                with self._cond:
                    while not slot.out:
                        if self._closed:
                            raise SlotError("the batched decoder was closed")
                        ready.wait()
                    item = slot.out.popleft()
                    if len(slot.out) == self._lookahead - 1:
                        self._cond.notify_all()  # room in the lookahead: the decode thread may wait for it
                if isinstance(item, _End):
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            with self._cond:
                if slot.stream == stream_id:
                    self._close_stream(slot)

    def _open(self, seq: int, context: list[int], sampling: Sampling, pieces: list[list[int]]) -> int:
        with self._cond:
            slot = self._slots[seq]
            if not slot.leased:
                raise SlotError(f"sequence {seq} is not leased")
            self._close_stream(slot)
            self._wait_idle(slot)
            self._wait_saved(slot)
            with self.lock:
                self.backend.set_sampling(seq, sampling)
            head = len(context) - sum(len(p) for p in pieces)
            if pieces:
                # Each piece is evaluated again as given, even if the sequence holds it already.
                keep = min(common_prefix(slot.kv, context), head)
                plan = [(context[keep:head], False)] if keep < head else []
                plan += [(piece, True) for piece in pieces]
            else:
                # Keep the shared prefix, but evaluate the last tokens together: the last is
                # sampled from, and evaluated alone it would round otherwise (as kv_cache.prepare).
                keep = min(common_prefix(slot.kv, context), max(len(context) - FRESH_TAIL_TOKENS, 0))
                plan = [(context[keep:], False)]
            if keep < len(slot.kv):
                with self.lock:
                    self.backend.truncate(seq, keep)
                slot.kv = slot.kv[:keep]
            self._streams += 1
            slot.stream = self._streams
            slot.plan = deque(plan)
            slot.next_token = None
            slot.out.clear()
            self._cond.notify_all()
            return slot.stream

    def _close_stream(self, slot: _Slot) -> None:
        slot.stream = 0
        slot.plan.clear()
        slot.next_token = None
        slot.out.clear()

    def _wait_idle(self, slot: _Slot) -> None:
        while slot.in_flight:
            self._cond.wait()

    def _wait_saved(self, slot: _Slot) -> None:
        while slot.saving is not None and not self._closed:
            self._cond.wait()

    # The decode thread.

    def _run(self) -> None:
        with self._cond:
            rows, streams = self._take_rows()
        while rows:
            try:
                with self.lock:
                    sampled = self.backend.step(rows)
                failure: BaseException | None = None
            except Exception as exc:  # a failed step fails its streams, not the worker
                log.exception("a batched step failed")
                sampled, failure = {}, exc
            pieces = {seq: self.backend.piece(token) for seq, token in sampled.items()}
            with self._cond:
                self.steps += 1
                for row in rows:
                    self._apply(row, streams[row.seq], sampled.get(row.seq), pieces.get(row.seq), failure)
                    self._ready[row.seq].notify_all()
                self._cond.notify_all()  # the sequences are idle again
                # The next step is taken before the lock is let go: the jobs just woken would
                # take it first otherwise, one after another, and the step would wait for them
                # (about 1 ms of every 30 with four jobs on two cores).
                rows, streams = self._take_rows()

    def _take_rows(self) -> tuple[list[Row], dict[int, int]]:
        """The next step's rows (waiting for work) and the stream each row is for; the rows'
        sequences are in flight until the step is applied. No rows: the batcher was closed."""
        self._take_saves()
        rows = self._next_rows()
        while not rows and not self._closed:
            self._cond.wait()
            self._take_saves()
            rows = self._next_rows()
        if self._closed:
            return [], {}
        for row in rows:
            self._slots[row.seq].in_flight = True
        return rows, {row.seq: self._slots[row.seq].stream for row in rows}

    def _take_saves(self) -> None:
        """Save the sequences whose jobs asked for it (`save_later`); none is in flight here."""
        for slot in self._slots:
            pending, slot.saving = slot.saving, None
            if pending is None:
                continue
            try:
                with self.lock:
                    data = pending.save()
                pending.keep(list(slot.kv), data)
            except Exception:  # a state not kept costs a later job time, not this one its answer
                log.exception("the state of sequence %d could not be saved", slot.seq)
            self._cond.notify_all()

    def _next_rows(self) -> list[Row]:
        """The next step: a piece of the prompt of the sequence leased first among those
        joining, or every generating sequence's next token; the two take turns."""
        generating = [
            Row(slot.seq, len(slot.kv), [slot.next_token], sample=True)
            for slot in self._slots
            if slot.stream and slot.next_token is not None and not slot.plan and len(slot.out) < self._lookahead
        ]
        joining = min((s for s in self._slots if s.stream and s.plan), key=lambda s: s.last_used, default=None)
        if joining is None or (generating and not self._prompt_turn):
            self._prompt_turn = True
            return generating
        self._prompt_turn = False
        tokens, whole = joining.plan[0]
        take = tokens if whole else tokens[: min(self._chunk, self.backend.n_batch)]
        if len(tokens) - len(take) == 1 and len(take) > 1:
            take = take[:-1]  # the prompt's last token is never left to a piece of its own
        done = len(take) == len(tokens) and len(joining.plan) == 1
        return [Row(joining.seq, len(joining.kv), take, sample=done)]

    def _apply(
        self, row: Row, stream: int, token: int | None, piece: bytes | None, failure: BaseException | None
    ) -> None:
        slot = self._slots[row.seq]
        slot.in_flight = False
        if failure is not None:
            # What the sequence holds past its known tokens is unknown now: start it afresh.
            slot.kv = []
            with self.lock:
                self.backend.truncate(slot.seq, 0)
            if slot.stream == stream:
                slot.out.append(SlotError(f"the model could not evaluate the sequence: {failure}"))
                slot.stream = 0
            return
        slot.kv.extend(row.tokens)
        self.evaluated_tokens += len(row.tokens)
        if slot.stream != stream:
            return  # closed meanwhile: what was evaluated stays, the token is dropped
        if slot.plan:  # a piece of the context
            tokens, whole = slot.plan[0]
            if whole or len(row.tokens) == len(tokens):
                slot.plan.popleft()
            else:
                slot.plan[0] = (tokens[len(row.tokens) :], False)
        if row.sample:
            slot.next_token = None
            if token is None or piece is None:
                slot.out.append(SlotError("the model sampled no token"))
                slot.stream = 0
            elif self.backend.is_end(token):
                slot.out.append(END)
                slot.stream = 0
            else:
                slot.out.append((token, piece))
                slot.next_token = token


def _starts(tokens: Sequence[int], prefix: Sequence[int]) -> bool:
    return bool(prefix) and common_prefix(tokens, prefix) == len(prefix)
