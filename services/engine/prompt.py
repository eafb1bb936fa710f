"""Rendering a conversation into the model's prompt, in reasoning mode."""

from __future__ import annotations

from collections.abc import Sequence

import jinja2
import llama_cpp
from llama_cpp import Llama
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from services.engine.exceptions import ChatTemplateError
from shared.schemas import ChatMessage

THINK_OPEN = "<think>"

# Used when a GGUF carries no chat template at all (rare; ChatML is the common default).
CHATML_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content']"
    " + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}"
)


class ChatPrompt:
    """Turns chat messages into prompt tokens with the GGUF's own chat template.

    If the rendered prompt does not already open a `<think>` block (R1-distill templates do),
    one is opened, so any instruct model starts its reply with a reasoning phase.
    """

    def __init__(self, llm: Llama) -> None:
        self._llm = llm
        model = llm._model
        self._bos_text = model.token_get_text(model.token_bos()) if model.token_bos() >= 0 else ""
        eos_text = model.token_get_text(model.token_eos()) if model.token_eos() >= 0 else ""
        template = llm.metadata.get("tokenizer.chat_template") or CHATML_TEMPLATE
        self._formatter = Jinja2ChatFormatter(template, eos_token=eos_text, bos_token=self._bos_text)
        self._add_bos = bool(llama_cpp.llama_vocab_get_add_bos(model.vocab))

    def render(self, messages: Sequence[ChatMessage]) -> str:
        try:
            text = self._formatter(messages=[m.model_dump() for m in messages]).prompt
        except jinja2.TemplateError as exc:
            raise ChatTemplateError(f"the model's chat template rejected the conversation: {exc}") from exc
        if not text.rstrip().endswith(THINK_OPEN):
            text += THINK_OPEN + "\n"
        return text

    def tokens(self, messages: Sequence[ChatMessage]) -> list[int]:
        text = self.render(messages)
        add_bos = self._add_bos and not (self._bos_text and text.startswith(self._bos_text))
        return self.tokenize(text, add_bos=add_bos)

    def tokenize(self, text: str, *, add_bos: bool = False) -> list[int]:
        return self._llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)
