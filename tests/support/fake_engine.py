"""A scripted engine for unit tests: each `stream()` call plays the next script."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from services.inference.engine import Sampling
from shared.models import LoraChoice
from shared.schemas import ChatMessage


class ScriptedEngine:
    def __init__(self, *scripts: Sequence[str]) -> None:
        self._scripts = [list(s) for s in scripts]
        self.calls: list[list[int]] = []
        self.closed = 0
        self.remembered = 0
        self.adapters: list[LoraChoice | None] = []
        """The adapter each job asked for, in order."""
        self.owners: list[str] = []
        """The owner each job ran for, in order."""
        self.prompts: list[list[ChatMessage]] = []
        """The messages each job's prompt was rendered from, in order."""

    def prompt_tokens(self, messages: Sequence[ChatMessage]) -> list[int]:
        self.prompts.append(list(messages))
        return [ord(c) for m in messages for c in m.content][:64] or [1]

    def tokenize(self, text: str) -> list[int]:
        return [ord(c) for c in text]

    def prepare(self, tokens: Sequence[int]) -> int:
        return 0

    def remember(self) -> None:
        self.remembered += 1

    def stream(self, tokens: Sequence[int], sampling: Sampling) -> Iterator[tuple[int, str]]:
        self.calls.append(list(tokens))
        script = self._scripts.pop(0) if self._scripts else []
        try:
            for index, text in enumerate(script):
                yield 1000 + index, text
        finally:
            self.closed += 1

    def use_owner(self, owner: str) -> None:
        self.owners.append(owner)

    def use_adapter(self, adapter: LoraChoice | None) -> None:
        self.adapters.append(adapter)
