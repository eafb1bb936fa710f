"""Function calls read out of an answer: named cases, each run one-shot and under every chunking,
asserting the same split and that no tag fragment leaks into the text."""

from __future__ import annotations

import json

import pytest

from services.engine.families import HERMES
from services.engine.toolcalls import ParsedCall, Piece, ToolCallParser, parse_all

CALL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
WEATHER = ParsedCall("get_weather", json.dumps({"city": "Paris"}))
FUNCTIONS = ("get_weather", "get_time")

CASES: dict[str, tuple[str, list[Piece]]] = {
    "plain-text": ("It is sunny in Paris.", ["It is sunny in Paris."]),
    "only-a-call": (CALL, [WEATHER]),
    "text-then-call": (f"Let me look.\n\n{CALL}", ["Let me look.", WEATHER]),
    "two-calls": (
        f'{CALL}\n<tool_call>\n{{"name": "get_time", "arguments": {{"zone": "CET"}}}}\n</tool_call>',
        [WEATHER, ParsedCall("get_time", json.dumps({"zone": "CET"}))],
    ),
    "call-then-text": (f"{CALL}\n\nDone.", [WEATHER, "Done."]),
    "arguments-as-string": (
        '<tool_call>{"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\"}"}</tool_call>',
        [WEATHER],
    ),
    "no-arguments": ('<tool_call>{"name": "get_time"}</tool_call>', [ParsedCall("get_time", "{}")]),
    "bad-json-stays-text": (
        '<tool_call>{"name": get_weather}</tool_call>',
        ['<tool_call>{"name": get_weather}</tool_call>'],
    ),
    "unknown-function-stays-text": (
        '<tool_call>{"name": "rm_rf", "arguments": {}}</tool_call>',
        ['<tool_call>{"name": "rm_rf", "arguments": {}}</tool_call>'],
    ),
    "unfinished-call-stays-text": ('Sure. <tool_call>{"name": "get_w', ['Sure. <tool_call>{"name": "get_w']),
    "bad-call-between-texts": ("A <tool_call>x</tool_call> B", ["A <tool_call>x</tool_call> B"]),
    "near-tag-is-text": ("a <tool_cal b < c <tool", ["a <tool_cal b < c <tool"]),
    "unicode-arguments": (
        '<tool_call>{"name": "get_weather", "arguments": {"city": "北京"}}</tool_call>',
        [ParsedCall("get_weather", '{"city": "北京"}')],
    ),
    "trailing-whitespace-dropped": ("Hello.  \n\n", ["Hello."]),
}


def chunkings(text: str) -> list[list[str]]:
    """The whole text, one character at a time, and every split into two pieces."""
    return [[text], list(text), *([text[:i], text[i:]] for i in range(1, len(text)))]


@pytest.mark.parametrize(("text", "expected"), CASES.values(), ids=CASES.keys())
def test_toolcalls_same_split_whole_and_chunked(text: str, expected: list[Piece]) -> None:
    assert parse_all(HERMES, text, FUNCTIONS) == expected
    for pieces in chunkings(text):
        parser = ToolCallParser(HERMES, FUNCTIONS)
        out: list[Piece] = []
        for piece in pieces:
            out += parser.feed(piece)
        out += parser.finish()
        assert _merged(out) == expected, pieces


def test_toolcalls_no_tag_fragment_before_the_call_closes() -> None:
    parser = ToolCallParser(HERMES, FUNCTIONS)
    streamed = [p for ch in "Checking <tool_call>" for p in parser.feed(ch)]
    assert _merged(streamed) == ["Checking"]
    assert parser.feed(CALL.removeprefix("<tool_call>")) == [WEATHER]
    assert parser.calls == 1


def test_toolcalls_any_function_without_a_list() -> None:
    assert parse_all(HERMES, '<tool_call>{"name": "x", "arguments": {}}</tool_call>') == [ParsedCall("x", "{}")]


def _merged(pieces: list[Piece]) -> list[Piece]:
    out: list[Piece] = []
    for piece in pieces:
        if isinstance(piece, str) and out and isinstance(out[-1], str):
            out[-1] += piece
        else:
            out.append(piece)
    return out
