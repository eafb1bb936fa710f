"""The splitter as a table of named cases, each run one-shot and chunked every possible way."""

from __future__ import annotations

import itertools

import pytest

from services.inference.splitter import ReasoningSplitter

CASES = {
    # name: (generated text, expected reasoning, expected answer)
    "r1-no-opening-tag": ("Let me add.\n2+2=4</think>\n\nThe answer is 4.", "Let me add.\n2+2=4", "The answer is 4."),
    "explicit-opening-tag": ("<think>\nhmm</think>yes", "hmm", "yes"),
    "whitespace-around-tags": ("  \n<think>  a b \n </think> \n\n c d \n", "a b", "c d"),
    "never-closed": ("thinking forever and", "thinking forever and", ""),
    "never-closed-partial-tag-at-end": ("still thinking </thi", "still thinking", ""),
    "empty-reasoning": ("</think>just the answer", "", "just the answer"),
    "lookalike-tag-is-text": ("a </thinking> b</think>c", "a </thinking> b", "c"),
    "html-in-reasoning": ("use <b>bold</b></think><i>x</i>", "use <b>bold</b>", "<i>x</i>"),
    "tags-in-answer-are-dropped": ("r</think>a <think>b</think>", "r", "a b"),
    "second-close-in-answer": ("r</think>8 + 2 = 10.\n</think>", "r", "8 + 2 = 10."),
    "lt-sign-in-answer": ("r</think>3 < 5 and <b>2</b>", "r", "3 < 5 and <b>2</b>"),
    "unicode": ("鸡兔同笼：35 头</think>鸡 23，兔 12", "鸡兔同笼：35 头", "鸡 23，兔 12"),
    "stray-open-tag-only": ("<think>", "", ""),
    "lt-sign-at-start": ("<3 is less than 4</think>ok", "<3 is less than 4", "ok"),
}


def _chunkings(text: str, limit: int = 2048):
    """Every way to cut `text` into consecutive chunks (capped for long texts: all single cuts
    and pairs of cuts, plus one-character chunks)."""
    n = len(text)
    if n <= 11:
        for mask in range(1 << max(n - 1, 0)):
            cuts = [i + 1 for i in range(n - 1) if mask >> i & 1]
            yield [text[a:b] for a, b in itertools.pairwise([0, *cuts, n])]
        return
    yield list(text)
    for a, b in itertools.islice(itertools.combinations(range(1, n), 2), limit):
        yield [text[:a], text[a:b], text[b:]]


def _split(chunks: list[str]) -> tuple[str, str]:
    splitter = ReasoningSplitter()
    reasoning, answer = [], []
    for chunk in chunks:
        for delta in splitter.feed(chunk):
            (reasoning if delta.kind == "reasoning" else answer).append(delta.text)
    splitter.finish()
    return "".join(reasoning), "".join(answer)


@pytest.mark.parametrize(("text", "reasoning", "answer"), CASES.values(), ids=CASES.keys())
def test_splitter_one_shot(text: str, reasoning: str, answer: str) -> None:
    assert _split([text]) == (reasoning, answer)


@pytest.mark.parametrize(("text", "reasoning", "answer"), CASES.values(), ids=CASES.keys())
def test_splitter_every_chunking_gives_the_same_split(text: str, reasoning: str, answer: str) -> None:
    for chunks in _chunkings(text):
        assert _split(chunks) == (reasoning, answer), chunks


@pytest.mark.parametrize("text", [case[0] for case in CASES.values()], ids=CASES.keys())
def test_splitter_never_emits_a_tag_fragment(text: str) -> None:
    for chunks in _chunkings(text, limit=300):
        splitter = ReasoningSplitter()
        for chunk in chunks:
            for delta in splitter.feed(chunk):
                if delta.kind == "reasoning":
                    assert not delta.text.endswith(("<", "</", "</t", "</th", "</thi", "</thin", "</think"))


def test_splitter_close_reasoning_switches_to_answer() -> None:
    splitter = ReasoningSplitter()
    assert [d.text for d in splitter.feed("step one </th")] == ["step one"]
    splitter.close_reasoning()
    assert not splitter.in_reasoning
    deltas = splitter.feed("\n\nFinal: 4")
    assert [(d.kind, d.text) for d in deltas] == [("answer", "Final: 4")]
