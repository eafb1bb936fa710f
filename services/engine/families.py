"""Model families: what thinkstream must know about a chat template beyond rendering it.

A plain name-to-family table, with detection from the template's text (as llama.cpp's server
detects chat formats). Each family declares its reasoning tags and its quirks, with the reason.
Every target family writes its reasoning between `<think>` and `</think>`, so one splitter serves
them all; the tags are declared here so a family with others would say so in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from services.engine.exceptions import UnknownFamily


@dataclass(frozen=True)
class ToolCallSyntax:
    """How a family's model writes a function call in its answer: a JSON object
    `{"name": ..., "arguments": {...}}` between two tags (the Hermes format Qwen uses)."""

    open_tag: str
    close_tag: str


@dataclass(frozen=True)
class Family:
    name: str
    matches: Callable[[str], bool] = field(repr=False)
    think_open: str = "<think>"
    think_close: str = "</think>"
    tool_calls: ToolCallSyntax | None = None
    """Set when the family's models are trained to call functions and its template renders
    `tools`; None: a request's tools are not shown to the model."""
    soft_switches: tuple[str, str] | None = None
    """(on, off) words a user may write to turn the reasoning phase on or off (Qwen3)."""


HERMES = ToolCallSyntax("<tool_call>", "</tool_call>")

FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        # Qwen3: one model for both modes. The template does not open <think> (the prompt does);
        # `enable_thinking=false` pre-fills an empty block, which is what a zero budget writes too;
        # "/think" and "/no_think" in a user or system turn switch per message, the last one wins.
        Family(
            "qwen3",
            lambda src: "enable_thinking" in src and "<|im_start|>" in src,
            tool_calls=HERMES,
            soft_switches=("/think", "/no_think"),
        ),
        # QwQ: the template opens <think> itself and drops earlier turns' reasoning (at </think>).
        Family("qwq", lambda src: "<|im_start|>assistant\\n<think>" in src, tool_calls=HERMES),
        # DeepSeek-R1 distills: the template opens <think> and cuts earlier turns at </think>. Its
        # tool markup (<｜tool▁calls▁begin｜>) exists but the distills were not trained to call
        # functions and the template never renders `tools`.
        Family("deepseek-r1", lambda src: "<｜Assistant｜>" in src),
        # Qwen2.5 instruct: not a reasoning model (the prompt opens <think>), but it calls tools.
        Family("qwen2.5", lambda src: "<tool_call>" in src and "<|im_start|>" in src, tool_calls=HERMES),
        # Phi-4-mini-reasoning: <|user|>/<|assistant|> turns, no reasoning markup in the
        # template (the prompt opens <think>), and its earlier turns are rendered as sent.
        Family("phi4-mini-reasoning", lambda src: "<|assistant|>" in src and "Your name is Phi" in src),
        Family("generic", lambda src: True),
    )
}
"""Most specific first: detection takes the first family whose test matches."""


def detect_family(template_source: str) -> Family:
    return next(family for family in FAMILIES.values() if family.matches(template_source))


def family_named(name: str) -> Family:
    try:
        return FAMILIES[name]
    except KeyError:
        raise UnknownFamily(f"no model family {name!r}; known: {', '.join(FAMILIES)}") from None
