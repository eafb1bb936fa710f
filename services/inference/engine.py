"""The token stream the worker drives: one protocol, the llama.cpp implementation.

Unit tests use a scripted engine with the same shape.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import llama_cpp
from llama_cpp import Llama

from services.engine.prompt import ChatPrompt
from shared.schemas import ChatMessage


@dataclass(frozen=True)
class Sampling:
    temperature: float
    top_p: float
    seed: int | None


class Engine(Protocol):
    def prompt_tokens(self, messages: Sequence[ChatMessage]) -> list[int]: ...

    def tokenize(self, text: str) -> list[int]: ...

    def stream(self, tokens: Sequence[int], sampling: Sampling) -> Iterator[tuple[int, str]]:
        """Yield `(token_id, text)` for each generated token until the model ends its turn.

        `text` may be empty while a multi-byte character is incomplete. The caller stops early
        by closing the iterator.
        """
        ...


class LlamaEngine:
    def __init__(self, llm: Llama) -> None:
        self._llm = llm
        self._prompt = ChatPrompt(llm)
        self._vocab = llm._model.vocab

    def prompt_tokens(self, messages: Sequence[ChatMessage]) -> list[int]:
        return self._prompt.tokens(messages)

    def tokenize(self, text: str) -> list[int]:
        return self._prompt.tokenize(text)

    def stream(self, tokens: Sequence[int], sampling: Sampling) -> Iterator[tuple[int, str]]:
        if sampling.seed is not None:
            self._llm.set_seed(sampling.seed)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        # generate() reuses the longest prefix already in the KV cache, so a forced
        # continuation after closing the reasoning only evaluates the new tokens.
        for token in self._llm.generate(
            tokens, temp=sampling.temperature, top_p=sampling.top_p, top_k=40, min_p=0.05, repeat_penalty=1.0
        ):
            if llama_cpp.llama_vocab_is_eog(self._vocab, token):
                return
            yield token, decoder.decode(self._llm.detokenize([token]))
