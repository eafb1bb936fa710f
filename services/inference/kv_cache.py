"""Saved KV states, so a conversation's next turn does not recompute the prefix it shares with
an earlier one.

llama.cpp already reuses the longest common prefix with whatever the context evaluated last.
This cache keeps the states of earlier jobs in RAM (least recently used first out) so the reuse
survives other conversations running on the worker in between. Only the KV cells are saved, not
llama-cpp-python's logits buffer (tens of MB per state that the next decode overwrites anyway).

Reuse never crosses owners (API keys): how many prompt tokens were already evaluated is visible
(`cached_tokens`, and in the timing), so a key that could reuse another key's prompt could read
it out token by token. Only the shared prefixes, text every owner sends the same (the chat
template's fixed opening, the operator's system prompt), are kept across owners.
"""

from __future__ import annotations

import ctypes
import itertools
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import llama_cpp
import numpy as np
from llama_cpp import Llama

FRESH_TAIL_TOKENS = 2
"""The prompt's last tokens evaluated again even when the context holds them (`prepare`)."""
MIN_SPARED_TOKENS = 2
TOKENS_PER_SPARED_TOKEN = 256
"""A saved state is loaded only if it spares evaluating at least `MIN_SPARED_TOKENS` prompt
tokens, and one more per `TOKENS_PER_SPARED_TOKEN` tokens it holds. A load copies the whole
state: on 2 cores with the embedded model it took 12.5 ms for a state of 50 tokens, 15 ms for
500 and 49 ms for 2,000, about what evaluating 2, 2 and 8 prompt tokens took (8 took 49-67 ms).
Before, a state was loaded to spare a single token, or none (one the prompt's fresh tail
evaluates anyway)."""


@dataclass(frozen=True)
class SavedState:
    tokens: tuple[int, ...]
    data: bytes
    scope: str = ""
    """The owner and LoRA adapter the state was computed for (see `KVReuse.scope`): a state is
    reused only in the same scope."""


class PrefixStateCache:
    """States keyed by the tokens they hold, bounded in bytes."""

    def __init__(self, capacity_bytes: int) -> None:
        self.capacity_bytes = capacity_bytes
        self._states: OrderedDict[tuple[str, tuple[int, ...]], SavedState] = OrderedDict()
        self._size = 0

    @property
    def size_bytes(self) -> int:
        return self._size

    def __len__(self) -> int:
        return len(self._states)

    def put(self, state: SavedState) -> None:
        if len(state.data) > self.capacity_bytes:
            return
        old = self._states.pop((state.scope, state.tokens), None)
        if old is not None:
            self._size -= len(old.data)
        self._states[(state.scope, state.tokens)] = state
        self._size += len(state.data)
        while self._size > self.capacity_bytes:
            _, evicted = self._states.popitem(last=False)
            self._size -= len(evicted.data)

    def best(self, tokens: Sequence[int], scope: str = "") -> tuple[int, SavedState | None]:
        """The saved state of `scope` sharing the longest prefix with `tokens`, and that prefix's
        length."""
        best_len, best = 0, None
        for state in self._states.values():
            if state.scope != scope:
                continue
            length = common_prefix(state.tokens, tokens)
            if length > best_len:
                best_len, best = length, state
        if best is not None:
            self._states.move_to_end((best.scope, best.tokens))
        return best_len, best


class KVReuse:
    """Prepares a Llama context for a prompt: keep what it holds, or load a better saved state."""

    def __init__(self, llm: Llama, cache: PrefixStateCache | None, shared: Sequence[Sequence[int]] = ()) -> None:
        self._llm = llm
        self._cache = cache
        self._shared = [tuple(prefix) for prefix in shared]
        self.adapter = ""
        """The adapter the context computes with now (`switch` changes it)."""
        self.owner = ""
        """The owner (API key) whose job the context computes now (`switch_owner` changes it)."""

    @property
    def scope(self) -> str:
        return f"{self.owner}\x1f{self.adapter}"

    def switch(self, adapter: str) -> None:
        """The context now computes with another adapter: what it holds was computed with the
        previous one and must not be reused (saved states of each adapter stay in the cache)."""
        if adapter != self.adapter:
            self.adapter = adapter
            self._llm.n_tokens = 0

    def switch_owner(self, owner: str) -> None:
        """The next job is another owner's: the context keeps a shared prefix it holds whole,
        nothing else (not even part of a shared prefix: how far another owner's prompt agreed
        with it would show)."""
        if owner != self.owner:
            self.owner = owner
            held = self._llm._input_ids.tolist()
            whole = [len(prefix) for prefix in self._shared if common_prefix(held, prefix) == len(prefix)]
            self._llm.n_tokens = max(whole, default=0)

    def prepare(self, tokens: Sequence[int]) -> int:
        """How many leading prompt tokens are already evaluated in the context and kept: at
        most all but the last `FRESH_TAIL_TOKENS`, which are evaluated again together.

        llama.cpp computes a prompt's last token differently when it is evaluated alone than
        when it is one of several in a batch (the logits differ by up to 2 here), and a greedy
        text then takes another turn: the same question asked twice, the second time with all
        but the last token cached, got another answer. With the tail evaluated whole, a cached
        prompt gives exactly the logits of an uncached one."""
        live = common_prefix(self._llm._input_ids.tolist(), tokens)
        if self._cache is not None:
            saved_len, saved = self._cache.best(tokens, self.scope)
            if saved is not None and worth_loading(saved_len, live, len(tokens), len(saved.tokens)):
                self._load(saved)
                live = saved_len
        keep = min(live, max(len(tokens) - FRESH_TAIL_TOKENS, 0))
        # generate() reuses as much of the context as matches: hold it to `keep`.
        self._llm.n_tokens = min(self._llm.n_tokens, keep)
        return keep

    def replay(self, tokens: Sequence[int], chunks: Sequence[Sequence[int]]) -> int:
        """Bring the context to `tokens` followed by `chunks`, evaluating each chunk on its own:
        a resumed job's tokens, in the pieces they were evaluated in when they were generated
        (one at a time, mostly). llama.cpp rounds a batch differently from single tokens, so
        this is what makes a greedy continuation exactly the uninterrupted one. Returns how many
        of `tokens` were already evaluated."""
        full = [*tokens, *(t for chunk in chunks for t in chunk)]
        live = self.prepare(full)
        # Keep whole chunks only, and evaluate at least the last one: its logits are sampled.
        ends = [len(tokens)]
        for chunk in chunks:
            ends.append(ends[-1] + len(chunk))
        keep = max((end for end in ends[:-1] if end <= live), default=min(live, len(tokens)))
        llm = self._llm
        llm.n_tokens = keep
        if keep < ends[0]:
            llm.eval(full[keep : ends[0]])
        for start, end in itertools.pairwise(ends):
            if end > keep:
                llm.eval(full[start:end])
        return min(live, len(tokens))

    def remember(self) -> None:
        """Save what the context holds now (call after a job)."""
        if self._cache is None or self._llm.n_tokens == 0:
            return
        ctx = self._llm._ctx.ctx
        size = llama_cpp.llama_state_get_size(ctx)
        buffer = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_get_data(ctx, buffer, size)
        tokens = tuple(self._llm._input_ids.tolist())
        self._cache.put(SavedState(tokens=tokens, data=bytes(buffer)[:written], scope=self.scope))

    def _load(self, state: SavedState) -> None:
        llm = self._llm
        buffer = (ctypes.c_uint8 * len(state.data)).from_buffer_copy(state.data)
        if llama_cpp.llama_state_set_data(llm._ctx.ctx, buffer, len(state.data)) != len(state.data):
            raise RuntimeError("llama.cpp refused a saved KV state")
        llm.input_ids[: len(state.tokens)] = np.asarray(state.tokens, dtype=llm.input_ids.dtype)
        llm.n_tokens = len(state.tokens)
        llm._requires_eval = True


def worth_loading(saved: int, live: int, prompt: int, state_tokens: int) -> bool:
    """Whether loading a saved state that holds `saved` leading tokens of a `prompt`-token
    context (`state_tokens` in all) spares enough evaluation over the `live` ones the context
    holds already (the last `FRESH_TAIL_TOKENS` are evaluated either way)."""
    limit = max(prompt - FRESH_TAIL_TOKENS, 0)
    spared = min(saved, limit) - min(live, limit)
    return spared >= MIN_SPARED_TOKENS + state_tokens // TOKENS_PER_SPARED_TOKEN


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n
