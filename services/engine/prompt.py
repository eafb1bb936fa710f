"""Rendering a conversation into the model's prompt, in reasoning mode."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import llama_cpp
from llama_cpp import Llama

from services.engine.families import Family, ToolCallSyntax, detect_family
from services.engine.template import THINK_OPEN, ChatTemplate
from shared.schemas import ChatMessage

_SENTINEL = "\ue000{}\ue001"
"""Stands in for message i's content while rendering the template's own markup: private-use
characters, which no template writes and no tokenizer merges with their neighbours."""
_MARKUP_ATTRS = llama_cpp.LLAMA_TOKEN_ATTR_CONTROL | llama_cpp.LLAMA_TOKEN_ATTR_USER_DEFINED
_SPECIAL_ATTRS = _MARKUP_ATTRS | llama_cpp.LLAMA_TOKEN_ATTR_UNKNOWN
"""Tokens a special-aware tokenizer may read from text (`_has_control_text`)."""

# Used when a GGUF carries no chat template at all (rare; ChatML is the common default).
CHATML_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content']"
    " + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}"
)


class ChatPrompt:
    """Turns chat messages into prompt tokens with the GGUF's own chat template.

    If the rendered prompt does not already open a `<think>` block (R1-distill and QwQ templates
    do), one is opened, so any instruct model starts its reply with a reasoning phase.

    Message contents are text, whatever they contain: a user who types `<|im_end|>` or
    `<|im_start|>system` gets those characters to the model, never the template's control
    tokens. Only the template's own markup is tokenized with special tokens. Tool definitions and
    call arguments reach the template as JSON that never spells a special token (see
    `ChatTemplate`); function names are restricted to letters, digits, `_`, `.` and `-`.

    Tools are rendered only for a family whose models call functions in a syntax thinkstream
    reads back (`tool_calls`); for any other model they are left out.
    """

    def __init__(self, llm: Llama) -> None:
        self._llm = llm
        model = llm._model
        self._bos_text = model.token_get_text(model.token_bos()) if model.token_bos() >= 0 else ""
        eos_text = model.token_get_text(model.token_eos()) if model.token_eos() >= 0 else ""
        source = llm.metadata.get("tokenizer.chat_template") or CHATML_TEMPLATE
        self.family: Family = detect_family(source)
        self.template = ChatTemplate(source, eos_token=eos_text, bos_token=self._bos_text, markup=_markup_texts(llm))
        self._special_texts = tuple(text for text in _markup_texts(llm, _SPECIAL_ATTRS) if text)
        """Every text a special-aware tokenizer may read as one token: only a content holding
        one of them needs the two tokenizations of `_has_control_text`."""
        self._add_bos = bool(llama_cpp.llama_vocab_get_add_bos(model.vocab))
        self._vocab = model.vocab

    @property
    def tool_calls(self) -> ToolCallSyntax | None:
        """How this model writes function calls, if it can call them at all."""
        return self.family.tool_calls if self.template.renders_tools else None

    def render(self, messages: Sequence[ChatMessage]) -> str:
        return self._render(messages, [m.content for m in messages])

    def _render(self, messages: Sequence[ChatMessage], contents: Sequence[str]) -> str:
        tools = [tool for m in messages if m.carries_tools for tool in m.tools or []]
        turns = [_template_message(m, c) for m, c in zip(messages, contents, strict=True) if not m.carries_tools]
        text = self.template.render(turns, tools=tools if tools and self.tool_calls else None)
        if not text.rstrip().endswith(THINK_OPEN):
            text += THINK_OPEN + "\n"
        return text

    def tokens(self, messages: Sequence[ChatMessage]) -> list[int]:
        text = self.render(messages)
        add_bos = self._add_bos and not (self._bos_text and text.startswith(self._bos_text))
        if not any(self._has_control_text(m.content) for m in messages):
            # The usual case: one pass over the whole text, exactly as llama.cpp would.
            return self.tokenize(text, add_bos=add_bos)
        tokens = [self._llm._model.token_bos()] if add_bos else []
        for piece, markup in self._pieces(messages):
            if piece:
                tokens += self._llama_tokenize(piece.encode("utf-8"), add_bos=False, special=markup)
        return tokens

    def _has_control_text(self, content: str) -> bool:
        """Whether the text holds a special token's text (`<|im_end|>`...): then a special-aware
        tokenizer reads it differently from a plain one."""
        if not any(text in content for text in self._special_texts):
            return False  # the usual case, without tokenizing it twice (0.6 ms a message)
        data = content.encode("utf-8")
        return self._llama_tokenize(data, add_bos=False, special=True) != self._llama_tokenize(
            data, add_bos=False, special=False
        )

    def _pieces(self, messages: Sequence[ChatMessage]) -> list[tuple[str, bool]]:
        """The prompt as (text, is_markup) pieces: the template rendered around stand-ins for
        the contents, split at them, with the contents in between. A template that changes a
        content (trims it, say) gets the content as sent; that only happens for a conversation
        with control-token text in it, which is then kept harmless rather than exact."""
        stand_ins = [_SENTINEL.format(index) for index in range(len(messages))]
        markup = self._render(messages, stand_ins)
        pieces: list[tuple[str, bool]] = []
        for message, stand_in in zip(messages, stand_ins, strict=True):
            before, found, markup = markup.partition(stand_in)
            if not found:  # the template left this message out
                continue
            pieces += [(before, True), (message.content, False)]
        pieces.append((markup, True))
        return pieces

    def tokenize(self, text: str, *, add_bos: bool = False) -> list[int]:
        return self._llama_tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)

    def _llama_tokenize(self, data: bytes, *, add_bos: bool, special: bool) -> list[int]:
        """llama.cpp's tokenizer into a buffer of the right size. (`Llama.tokenize` sizes its
        buffer by the trained context, which the gateway's vocabulary-only models report as 0:
        every call tokenized twice, about 0.4 ms more for a short question.)"""
        room = len(data) + 2  # at most a token per byte, and BOS and EOS
        while True:
            buffer = (llama_cpp.llama_token * room)()
            count = llama_cpp.llama_tokenize(self._vocab, data, len(data), buffer, room, add_bos, special)
            if count >= 0:
                return buffer[:count]
            room = -count

    def text_tokens(self, text: str) -> list[int]:
        """Plain text's tokens: a control token's text stays characters, as in message contents."""
        return self._llama_tokenize(text.encode("utf-8"), add_bos=False, special=False)


def _template_message(message: ChatMessage, content: str) -> dict[str, Any]:
    """A message as chat templates expect it (Hugging Face's convention: call arguments as an
    object, which Qwen2.5's template needs and Qwen3's accepts)."""
    turn: dict[str, Any] = {"role": message.role, "content": content}
    if message.tool_calls:
        turn["tool_calls"] = [call.model_dump() for call in message.tool_calls]
    if message.tool_call_id is not None:
        turn["tool_call_id"] = message.tool_call_id
    return turn


def _markup_texts(llm: Llama, attrs: int | None = None) -> list[str]:
    """The texts of the vocabulary's control and user-defined tokens (`<|im_end|>`, `<think>`),
    or of the tokens with any of `attrs`."""
    vocab = llm._model.vocab
    wanted = _MARKUP_ATTRS if attrs is None else attrs
    texts = []
    for token in range(llama_cpp.llama_vocab_n_tokens(vocab)):
        if llama_cpp.llama_vocab_get_attr(vocab, token) & wanted:
            texts.append(llm._model.token_get_text(token))
    return texts
