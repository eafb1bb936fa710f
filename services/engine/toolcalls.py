"""Function calls in a model's answer, found as it streams.

The model writes a call as a JSON object between two tags (`<tool_call>{"name": ..., "arguments":
{...}}</tool_call>` for Qwen). The parser passes other text through, holds back anything that
might still become an opening tag, and turns each complete, well-formed call into a `ParsedCall`.
A call that is not valid JSON, names a function the request did not offer, or is cut off by the
end of the stream stays text: the client sees what the model wrote rather than losing it.

Whitespace next to a call is the model's formatting, not content: it is dropped, and so is the
answer's trailing whitespace, so the split is the same however the text is chunked.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass

from services.engine.families import ToolCallSyntax


@dataclass(frozen=True)
class ParsedCall:
    name: str
    arguments: str
    """The arguments as a JSON object's text (OpenAI's wire format)."""


Piece = str | ParsedCall


class ToolCallParser:
    def __init__(self, syntax: ToolCallSyntax, functions: Collection[str] | None = None) -> None:
        """`functions`: the names the request offered; a call to any other stays text."""
        self._open = syntax.open_tag
        self._close = syntax.close_tag
        self._functions = set(functions) if functions is not None else None
        self._text = ""  # held-back text outside a call
        self._call: str | None = None  # the body of the call being read, once its tag opened
        self._gap = ""  # whitespace before the open call: given back if it turns out to be text
        self._after_call = False
        self.calls = 0

    def feed(self, text: str) -> list[Piece]:
        out: list[Piece] = []
        buffer = text
        while buffer:
            if self._call is not None:
                self._call += buffer
                end = self._call.find(self._close)
                if end < 0:
                    return out
                body, buffer = self._call[:end], self._call[end + len(self._close) :]
                self._call = None
                self._end_call(body, out)
                continue
            if self._after_call:
                buffer = buffer.lstrip()
                if not buffer:
                    return out
                self._after_call = False
            self._text += buffer
            buffer = ""
            start = self._text.find(self._open)
            if start >= 0:
                before = self._text[:start]
                _emit(out, before.rstrip())
                self._gap = before[len(before.rstrip()) :]
                buffer, self._text, self._call = self._text[start + len(self._open) :], "", ""
                continue
            keep = _partial_suffix(self._text, self._open)
            head = self._text[: len(self._text) - keep]
            body = head.rstrip()
            _emit(out, body)
            self._text = head[len(body) :] + self._text[len(head) :]
        return out

    def finish(self) -> list[Piece]:
        """The stream has ended: an unfinished call is text again; trailing whitespace goes."""
        out: list[Piece] = []
        if self._call is not None:
            _emit(out, (self._gap + self._open + self._call).rstrip())
        elif self._text.strip():
            _emit(out, self._text.rstrip())
        self._text, self._call = "", None
        return out

    def _end_call(self, body: str, out: list[Piece]) -> None:
        call = self._parse(body)
        if call is None:
            _emit(out, f"{self._gap}{self._open}{body}{self._close}")
            return
        self.calls += 1
        out.append(call)
        self._after_call = True

    def _parse(self, body: str) -> ParsedCall | None:
        try:
            data = json.loads(body)
        except json.JSONDecodeError:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            return None
        name, arguments = data["name"], data.get("arguments", {})
        if isinstance(arguments, str):  # some models write the arguments as a JSON string
            try:
                arguments = json.loads(arguments)
            except json.JSONDecodeError:
                return None
        if not isinstance(arguments, dict):
            return None
        if self._functions is not None and name not in self._functions:
            return None
        return ParsedCall(name=name, arguments=json.dumps(arguments, ensure_ascii=False))


def parse_all(syntax: ToolCallSyntax, text: str, functions: Collection[str] | None = None) -> list[Piece]:
    """One-shot parse of a whole answer (the same split as feeding it in pieces)."""
    parser = ToolCallParser(syntax, functions)
    out: list[Piece] = []
    for piece in [*parser.feed(text), *parser.finish()]:
        if isinstance(piece, str):
            _emit(out, piece)
        else:
            out.append(piece)
    return out


def _emit(out: list[Piece], text: str) -> None:
    if not text:
        return
    if out and isinstance(out[-1], str):
        out[-1] += text
    else:
        out.append(text)


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest end of `text` that is a proper start of `tag`."""
    for size in range(min(len(text), len(tag) - 1), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0
