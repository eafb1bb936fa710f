"""The token stream the worker drives: one protocol, the llama.cpp implementation.

Unit tests use a scripted engine with the same shape.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import llama_cpp
from llama_cpp import Llama

from services.engine.prompt import ChatPrompt
from services.inference.adapters import Adapters
from services.inference.exceptions import UnknownAdapter
from services.inference.kv_cache import KVReuse, PrefixStateCache
from services.inference.shared_prefix import shared_prefixes
from shared.models import LoraChoice
from shared.schemas import ChatMessage


@dataclass(frozen=True)
class Sampling:
    temperature: float
    top_p: float
    seed: int | None


class Engine(Protocol):
    def prompt_tokens(self, messages: Sequence[ChatMessage]) -> list[int]: ...

    def tokenize(self, text: str) -> list[int]:
        """Tokens of the worker's own markup (`</think>`): control tokens' texts become them."""
        ...

    def text_tokens(self, text: str) -> list[int]:
        """Tokens of plain text (a budget message a request sent): a control token's text stays
        characters, as in message contents."""
        ...

    def piece(self, token: int) -> bytes:
        """The bytes of one generated token, as `stream` yields them (a multi-byte character may
        span tokens)."""
        ...

    def prepare(self, tokens: Sequence[int], replay: Sequence[Sequence[int]] = ()) -> int:
        """Get ready to generate after `tokens` (and the chunks of `replay`); returns how many of
        `tokens` are already evaluated (shared with an earlier job's state) and will not be
        computed again. `replay`: tokens an earlier attempt generated, evaluated now chunk by
        chunk as they were when generated, so that the model goes on exactly as it would have."""
        ...

    def remember(self) -> None:
        """Keep the state of the job just finished for later jobs that share its prefix."""
        ...

    def use_adapter(self, adapter: LoraChoice | None) -> None:
        """Compute the next job with this LoRA adapter (None: the base model)."""
        ...

    def use_owner(self, owner: str) -> None:
        """The next job is this owner's (API key; "" without keys): it reuses evaluated prompt
        tokens of this owner's jobs and the shared prefixes only."""
        ...

    def stream(self, tokens: Sequence[int], sampling: Sampling) -> Iterator[tuple[int, bytes]]:
        """Yield `(token_id, bytes)` for each generated token until the model ends its turn.

        The caller stops early by closing the iterator.
        """
        ...


class LlamaEngine:
    def __init__(
        self,
        llm: Llama,
        cache: PrefixStateCache | None = None,
        adapters: Adapters | None = None,
        system_prompt: str | None = None,
    ) -> None:
        self._llm = llm
        self._prompt = ChatPrompt(llm)
        self._vocab = llm._model.vocab
        self._kv = KVReuse(llm, cache, shared_prefixes(self._prompt.tokens, system_prompt))
        self._adapters = adapters

    def prompt_tokens(self, messages: Sequence[ChatMessage]) -> list[int]:
        return self._prompt.tokens(messages)

    def tokenize(self, text: str) -> list[int]:
        return self._prompt.tokenize(text)

    def text_tokens(self, text: str) -> list[int]:
        return self._prompt.text_tokens(text)

    def piece(self, token: int) -> bytes:
        return self._llm.detokenize([token])

    def prepare(self, tokens: Sequence[int], replay: Sequence[Sequence[int]] = ()) -> int:
        return self._kv.replay(tokens, replay) if replay else self._kv.prepare(tokens)

    def remember(self) -> None:
        self._kv.remember()

    def use_adapter(self, adapter: LoraChoice | None) -> None:
        if self._adapters is None:
            if adapter is not None:
                raise UnknownAdapter(f"this worker has no LoRA adapters (the job asked for {adapter.name!r})")
            return
        self._adapters.apply(adapter)
        self._kv.switch(adapter.scope if adapter is not None else "")

    def use_owner(self, owner: str) -> None:
        self._kv.switch_owner(owner)

    def stream(self, tokens: Sequence[int], sampling: Sampling) -> Iterator[tuple[int, bytes]]:
        if sampling.seed is not None:
            self._llm.set_seed(sampling.seed)
        # generate() reuses the longest prefix already in the KV cache, so a forced
        # continuation after closing the reasoning only evaluates the new tokens.
        for token in self._llm.generate(
            tokens, temp=sampling.temperature, top_p=sampling.top_p, top_k=40, min_p=0.05, repeat_penalty=1.0
        ):
            if llama_cpp.llama_vocab_is_eog(self._vocab, token):
                return
            yield token, self._llm.detokenize([token])
