"""The engine each job of a batched worker gets: the `Engine` protocol over one slot.

A `SlotPool` holds what the worker's jobs share (the batched context and its decode thread,
the chat template, saved KV states, LoRA adapters); `SlotPool.engine()` makes a `SlotEngine`
for one job, which takes a sequence when the job prepares its prompt and gives it back when
the job ends (`finish`). Everything else a job does (sampling and seed, the reasoning split,
budget forcing, stop strings, cancel, deadlines, resume) is the job's own code, unchanged.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

from services.engine.prompt import ChatPrompt
from services.inference.adapters import Adapters
from services.inference.batched_llama import LlamaBackend
from services.inference.engine import Sampling
from services.inference.exceptions import SlotError, UnknownAdapter
from services.inference.kv_cache import FRESH_TAIL_TOKENS, PrefixStateCache, SavedState, worth_loading
from services.inference.slots import Batcher
from shared.models import LoraChoice
from shared.schemas import ChatMessage


class SlotPool:
    def __init__(
        self,
        batcher: Batcher,
        backend: LlamaBackend,
        prompt: ChatPrompt,
        cache: PrefixStateCache | None = None,
        adapters: Adapters | None = None,
    ) -> None:
        self.batcher = batcher
        self.backend = backend
        self.prompt = prompt
        self.cache = cache
        self.adapters = adapters
        self.cache_lock = threading.Lock()
        """`PrefixStateCache` is not thread-safe; jobs use it one at a time."""

    @property
    def n_slots(self) -> int:
        return self.batcher.n_slots

    def engine(self) -> SlotEngine:
        return SlotEngine(self)

    def close(self) -> None:
        self.batcher.close()
        if self.adapters is not None:
            self.adapters.close()
        self.backend.close()


class SlotEngine:
    """One job's view of the pool (not shared between jobs)."""

    def __init__(self, pool: SlotPool) -> None:
        self._pool = pool
        self._batcher = pool.batcher
        self._adapter = ""
        self._in_scope = False
        self._owner = ""
        self._seq: int | None = None
        self._pieces: list[list[int]] = []

    @property
    def _scope(self) -> str:
        """What a saved state is kept under (as `KVReuse.scope`)."""
        return f"{self._owner}\x1f{self._adapter}"

    def prompt_tokens(self, messages: Sequence[ChatMessage]) -> list[int]:
        return self._pool.prompt.tokens(messages)

    def tokenize(self, text: str) -> list[int]:
        return self._pool.prompt.tokenize(text)

    def text_tokens(self, text: str) -> list[int]:
        return self._pool.prompt.text_tokens(text)

    def piece(self, token: int) -> bytes:
        return self._pool.backend.piece(token)

    def use_adapter(self, adapter: LoraChoice | None) -> None:
        adapters = self._pool.adapters
        if adapters is None and adapter is not None:
            raise UnknownAdapter(f"this worker has no LoRA adapters (the job asked for {adapter.name!r})")
        if adapters is not None and adapter is not None and adapter.name not in adapters.names:
            known = ", ".join(adapters.names) or "none"
            raise UnknownAdapter(f"this worker has no LoRA adapter {adapter.name!r} (it has: {known})")
        if self._in_scope:
            raise SlotError("a job chooses its adapter once, before its prompt")
        self._adapter = adapter.scope if adapter is not None else ""
        self._batcher.enter_scope(self._adapter, lambda: adapters.apply(adapter) if adapters else None)
        self._in_scope = True

    def use_owner(self, owner: str) -> None:
        self._owner = owner

    def prepare(self, tokens: Sequence[int], replay: Sequence[Sequence[int]] = ()) -> int:
        if not self._in_scope:
            self.use_adapter(None)
        if self._seq is not None:
            raise SlotError("a job prepares its prompt once")
        full = [*tokens, *(t for chunk in replay for t in chunk)]
        self._seq, live = self._batcher.lease(full, self._owner)
        cache = self._pool.cache
        if cache is not None:
            with self._pool.cache_lock:
                saved_len, saved = cache.best(full, self._scope)
            if saved is not None and worth_loading(saved_len, live, len(full), len(saved.tokens)):
                seq, data = self._seq, saved.data
                self._batcher.replace(seq, saved.tokens, lambda: self._pool.backend.load(seq, data))
                live = saved_len
        self._pieces = [list(chunk) for chunk in replay]
        return min(live, len(tokens)) if replay else min(live, max(len(tokens) - FRESH_TAIL_TOKENS, 0))

    def stream(self, tokens: Sequence[int], sampling: Sampling) -> Iterator[tuple[int, bytes]]:
        if self._seq is None:
            raise SlotError("prepare the prompt before streaming")
        pieces, self._pieces = self._pieces, []
        flat = [t for piece in pieces for t in piece]
        if flat and list(tokens[len(tokens) - len(flat) :]) != flat:
            pieces = []  # not the context the pieces were planned for
        return self._batcher.stream(self._seq, tokens, sampling, pieces)

    def remember(self) -> None:
        """Keep what the sequence holds in the pool's saved states: taken by the decode thread
        before its next step, while the job goes on to record its result."""
        cache, seq = self._pool.cache, self._seq
        if cache is None or seq is None:
            return
        backend, lock, scope = self._pool.backend, self._pool.cache_lock, self._scope

        def keep(tokens: list[int], data: bytes) -> None:
            if tokens:
                with lock:
                    cache.put(SavedState(tokens=tuple(tokens), data=data, scope=scope))

        self._batcher.save_later(seq, lambda: backend.save(seq), keep)

    def finish(self) -> None:
        """The job is over: give back its sequence (what it holds stays for later jobs) and its
        hold on the adapter."""
        if self._seq is not None:
            self._batcher.release(self._seq)
            self._seq = None
        if self._in_scope:
            self._batcher.leave_scope()
            self._in_scope = False
