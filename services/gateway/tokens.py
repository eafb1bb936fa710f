"""Counting a conversation's prompt tokens before accepting it, so an over-long prompt is refused
at the door (413) instead of failing on a worker."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from services.engine.families import ToolCallSyntax
from services.engine.model import load_model, trained_context
from services.engine.prompt import ChatPrompt
from shared.models import ModelSpec
from shared.schemas import ChatMessage


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
    workers of that model do. One per model: each has its own vocabulary and template. Raises
    `ModelLoadError` when the file cannot be read."""

    def __init__(self, model: ModelSpec, default_n_ctx: int) -> None:
        n_ctx = model.n_ctx or default_n_ctx
        llm = load_model(model.path, n_ctx, vocab_only=True)
        trained = trained_context(llm)
        self.n_ctx = min(n_ctx, trained) if trained else n_ctx
        self.model_name = model.name
        self._prompt = ChatPrompt(llm)
        self.family = self._prompt.family.name
        self.tool_calls = self._prompt.tool_calls
        self.soft_switches = self._prompt.family.soft_switches

    def count(self, messages: Sequence[ChatMessage]) -> int:
        return len(self._prompt.tokens(messages))
