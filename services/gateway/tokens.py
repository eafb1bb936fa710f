"""Counting a conversation's prompt tokens before accepting it, so an over-long prompt is refused
at the door (413) instead of failing on a worker."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from services.engine.families import ToolCallSyntax
from services.engine.model import load_model, trained_context
from services.engine.prompt import ChatPrompt
from shared.schemas import ChatMessage
from shared.settings import Settings


class PromptCounter(Protocol):
    n_ctx: int
    model_name: str
    tool_calls: ToolCallSyntax | None
    """How the model writes function calls; None if it cannot call them."""
    soft_switches: tuple[str, str] | None
    """Words that turn the model's reasoning on and off within a conversation (Qwen3's)."""

    def count(self, messages: Sequence[ChatMessage]) -> int: ...


class VocabPromptCounter:
    """Loads only the model's vocabulary (fast, a few MB) and renders prompts exactly as the
    workers do."""

    def __init__(self, settings: Settings) -> None:
        llm = load_model(settings.model_path, settings.n_ctx, vocab_only=True)
        trained = trained_context(llm)
        self.n_ctx = min(settings.n_ctx, trained) if trained else settings.n_ctx
        self.model_name = settings.served_model_name
        self._prompt = ChatPrompt(llm)
        self.tool_calls = self._prompt.tool_calls
        self.soft_switches = self._prompt.family.soft_switches

    def count(self, messages: Sequence[ChatMessage]) -> int:
        return len(self._prompt.tokens(messages))
