"""A GGUF's chat template, rendered the way Hugging Face's `apply_chat_template` renders it.

Models are trained on prompts made by that function, so its Jinja environment is the reference:
a sandbox with `trim_blocks` and `lstrip_blocks`, `raise_exception`, `strftime_now`, loop
controls, and a `tojson` that writes UTF-8 as it is (Jinja's own escapes `<`, `>` and `&`, which
would change every tool definition a Qwen template renders).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from functools import cached_property
from typing import Any

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

from services.engine.exceptions import ChatTemplateError

THINK_OPEN = "<think>"
_PROBE_TOOL = "thinkstream_probe_function"


def _raise_exception(message: str) -> None:
    raise jinja2.TemplateError(message)


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


class ChatTemplate:
    """One Jinja chat template with the model's BOS and EOS texts.

    `markup` lists the texts of the model's special tokens (`<|im_end|>`, `<think>`...). JSON the
    template writes (tool definitions, call arguments) never spells one of them: the first
    character of any such text is written as a JSON `\\uXXXX` escape, which reads as the same
    JSON but tokenizes as plain text. Message contents are kept harmless by the prompt itself.
    """

    def __init__(self, source: str, *, bos_token: str = "", eos_token: str = "", markup: Sequence[str] = ()) -> None:
        self.source = source
        self._bos = bos_token
        self._eos = eos_token
        self._markup = sorted({m for m in markup if m}, key=len, reverse=True)
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
        env.filters["tojson"] = self._tojson
        env.globals["raise_exception"] = _raise_exception
        env.globals["strftime_now"] = _strftime_now
        try:
            self._template = env.from_string(source)
        except jinja2.TemplateError as exc:
            raise ChatTemplateError(f"the model's chat template does not parse: {exc}") from exc

    def render(
        self, messages: Sequence[dict[str, Any]], *, tools: Sequence[dict[str, Any]] | None = None, **options: Any
    ) -> str:
        """The prompt up to where the assistant's reply starts (`add_generation_prompt`)."""
        try:
            return self._template.render(
                messages=list(messages),
                tools=list(tools) if tools else None,
                add_generation_prompt=True,
                bos_token=self._bos,
                eos_token=self._eos,
                **options,
            )
        except (jinja2.TemplateError, TypeError, KeyError, IndexError) as exc:
            raise ChatTemplateError(f"the model's chat template rejected the conversation: {exc}") from exc

    @cached_property
    def renders_tools(self) -> bool:
        """Whether the template writes the tool definitions it is given into the prompt."""
        probe = {"type": "function", "function": {"name": _PROBE_TOOL, "description": "", "parameters": {}}}
        try:
            return _PROBE_TOOL in self.render([{"role": "user", "content": "x"}], tools=[probe])
        except ChatTemplateError:
            return False

    @cached_property
    def opens_reasoning(self) -> bool:
        """Whether the template itself ends the prompt inside an open `<think>` block (R1-distill,
        QwQ); otherwise the prompt opens it."""
        try:
            return self.render([{"role": "user", "content": "x"}]).rstrip().endswith(THINK_OPEN)
        except ChatTemplateError:
            return False

    def _tojson(
        self,
        value: Any,
        ensure_ascii: bool = False,
        indent: int | None = None,
        separators: tuple[str, str] | None = None,
        sort_keys: bool = False,
    ) -> str:
        text = json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)
        for markup in self._markup:
            if markup in text:
                text = text.replace(markup, f"\\u{ord(markup[0]):04x}{markup[1:]}")
        return text
