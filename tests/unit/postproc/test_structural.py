"""The looping-text check: `find_loop` finds exactly what the plain search finds (the same
chunk, at the same place, with the same number of copies), and `no_repetition` reports it."""

from __future__ import annotations

import random

import pytest

from services.postproc.checks.base import Trace
from services.postproc.checks.structural import _LOOP, NoRepetition, find_loop


def _texts(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    words = ["the ", "sky ", "is ", "blue ", "so ", "x = 12", "\n", "Wait, ", "let me check. ", "3 + 4 = 7. "]
    out = []
    for _ in range(count):
        kind = rng.random()
        if kind < 0.3:  # few letters: accidental repeats of every period
            out.append("".join(rng.choice("ab\n") for _ in range(rng.randint(0, 400))))
        elif kind < 0.6:  # prose-like, with repeated words but rarely a loop
            out.append("".join(rng.choice(words) for _ in range(rng.randint(0, 120))))
        else:  # a planted chunk of 5-210 characters, 2-6 copies, between other text
            chunk = "".join(rng.choice("abcdefgh .\n") for _ in range(rng.randint(5, 210)))
            head = "".join(rng.choice(words) for _ in range(rng.randint(0, 10)))
            tail = "".join(rng.choice(words) for _ in range(rng.randint(0, 10)))
            out.append(head + chunk * rng.randint(2, 6) + tail)
    return out


@pytest.mark.parametrize("seed", range(4))
def test_find_loop_finds_what_the_plain_search_finds(seed: int) -> None:
    found = 0
    for text in _texts(seed, 400):
        expected, got = _LOOP.search(text), find_loop(text)
        assert (got and (got.span(), got.group(1))) == (expected and (expected.span(), expected.group(1))), text
        found += expected is not None
    assert 80 < found < 360, "the texts hold loops and texts without one"


def _report(reasoning: str, answer: str) -> list[tuple[str, str, str]]:
    trace = Trace(question="Why?", reasoning=reasoning, answer=answer, finish_reason="stop", reasoning_end="eos")
    return [(f.severity, f.span.field, f.message) for f in NoRepetition().run(trace).findings if f.span]


def test_no_repetition_flags_a_looping_answer_and_warns_of_a_looping_reasoning() -> None:
    loop = "I think so. " * 4
    assert _report("Fine! " + loop + "Done.", "It is blue.") == [
        ("warning", "reasoning", "The reasoning repeats itself: 'I think so.' appears 4 times in a row.")
    ]
    assert _report("Fine.", "Blue! " + loop) == [
        ("error", "answer", "The answer repeats itself: 'I think so.' appears 4 times in a row.")
    ]


def test_no_repetition_leaves_three_copies_and_long_chunks_alone() -> None:
    assert _report("I think so. " * 3, "It is blue.") == []
    rng = random.Random(7)
    long_chunk = "".join(rng.choice("abcdefghij") for _ in range(201))
    assert _report(long_chunk * 4, "It is blue.") == []
