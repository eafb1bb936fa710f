"""Stop sequences cut the answer before the stop string, however the text is chunked."""

from __future__ import annotations

import pytest

from services.inference.engine import Sampling
from services.inference.generation import Generation
from services.inference.splitter import Delta
from services.inference.stops import StopMatcher
from tests.support.fake_engine import ScriptedEngine


def _run(stops: list[str], chunks: list[str]) -> tuple[str, bool]:
    matcher = StopMatcher(stops)
    out = "".join(matcher.feed(c) for c in chunks) + matcher.finish()
    return out, matcher.stopped


@pytest.mark.parametrize("size", [1, 2, 3, 100])
def test_stop_string_split_across_chunks_is_caught_and_never_emitted(size: int) -> None:
    text = "x = 4\nEND and more"
    chunks = [text[i : i + size] for i in range(0, len(text), size)]
    assert _run(["END"], chunks) == ("x = 4\n", True)


def test_earliest_of_several_stops_wins() -> None:
    assert _run(["##", "\n\n"], ["a\n\nb ## c"]) == ("a", True)


def test_near_miss_is_released_at_the_end() -> None:
    assert _run(["STOP"], ["go ST", "O"]) == ("go STO", False)


def test_no_stops_passes_text_through() -> None:
    assert _run([], ["a", "b"]) == ("ab", False)


def test_generation_stops_the_answer_but_not_the_reasoning() -> None:
    engine = ScriptedEngine(["Step 1\n\nstep 2", "</think>", "Answer: 4", "\n\nExtra", " text"])
    deltas: list[Delta] = []
    generation = Generation(
        engine, [1], max_tokens=50, max_reasoning_tokens=40, n_ctx=512, sampling=Sampling(0, 1, None), stop=["\n\n"]
    )
    outcome = generation.run(lambda ds, _: deltas.extend(ds) or True)
    reasoning = "".join(d.text for d in deltas if d.kind == "reasoning")
    answer = "".join(d.text for d in deltas if d.kind == "answer")
    assert reasoning == "Step 1\n\nstep 2"
    assert answer == "Answer: 4"
    assert outcome.finish_reason == "stop" and engine.closed == 1
    assert outcome.answer_tokens == 2  # stopped at the token that completed the stop string
