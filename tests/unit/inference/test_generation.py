from __future__ import annotations

from services.inference.engine import Sampling
from services.inference.generation import FORCED_CLOSE, Generation
from services.inference.splitter import Delta
from tests.support.fake_engine import ScriptedEngine

GREEDY = Sampling(temperature=0.0, top_p=1.0, seed=None)


def make_generation(
    engine: ScriptedEngine, *, max_tokens: int = 100, budget: int = 50, n_ctx: int = 4096
) -> Generation:
    return Generation(
        engine, [1, 2, 3], max_tokens=max_tokens, max_reasoning_tokens=budget, n_ctx=n_ctx, sampling=GREEDY
    )


def collect(generation: Generation, stop_after: int | None = None) -> tuple[str, str, object]:
    seen: list[Delta] = []

    def on_deltas(deltas: list[Delta], _: object) -> bool:
        seen.extend(deltas)
        return stop_after is None or len(seen) < stop_after

    outcome = generation.run(on_deltas)
    reasoning = "".join(d.text for d in seen if d.kind == "reasoning")
    answer = "".join(d.text for d in seen if d.kind == "answer")
    return reasoning, answer, outcome


def test_generation_model_closes_reasoning_itself() -> None:
    engine = ScriptedEngine(["Two ", "plus two", "</think>", "\n\n", "Four."])
    reasoning, answer, out = collect(make_generation(engine))
    assert (reasoning, answer) == ("Two plus two", "Four.")
    assert out.finish_reason == "stop" and out.reasoning_end == "model"
    assert (out.reasoning_tokens, out.answer_tokens) == (3, 2)
    assert len(engine.calls) == 1


def test_generation_forces_an_answer_at_the_reasoning_budget() -> None:
    engine = ScriptedEngine(["a", "b", "c", "d", "e", "never seen"], ["Answer", " 4"])
    reasoning, answer, out = collect(make_generation(engine, budget=3))
    assert (reasoning, answer) == ("abc", "Answer 4")
    assert out.reasoning_end == "budget" and out.finish_reason == "stop"
    assert out.reasoning_tokens == 3
    # The continuation is the prompt, the generated tokens and the forced closing tag.
    assert engine.calls[1] == [1, 2, 3, 1000, 1001, 1002, *engine.tokenize(FORCED_CLOSE)]
    assert engine.closed == 2


def test_generation_forces_an_answer_when_the_model_stops_while_reasoning() -> None:
    engine = ScriptedEngine(["I think ", "so"], ["Yes."])
    reasoning, answer, out = collect(make_generation(engine))
    assert (reasoning, answer) == ("I think so", "Yes.")
    assert out.reasoning_end == "eos" and out.finish_reason == "stop"


def test_generation_zero_budget_skips_reasoning() -> None:
    engine = ScriptedEngine(["Direct", " answer"])
    reasoning, answer, out = collect(make_generation(engine, budget=0))
    assert (reasoning, answer) == ("", "Direct answer")
    assert out.reasoning_end == "budget"


def test_generation_max_tokens_cuts_the_answer() -> None:
    engine = ScriptedEngine(["r", "</think>", "one", " two", " three"])
    _, answer, out = collect(make_generation(engine, max_tokens=4))
    assert answer == "one two"
    assert out.finish_reason == "length" and out.reasoning_end == "model"


def test_generation_max_tokens_inside_reasoning_leaves_no_answer() -> None:
    engine = ScriptedEngine(["a", "b", "c", "d"])
    reasoning, answer, out = collect(make_generation(engine, max_tokens=2))
    assert (reasoning, answer) == ("ab", "")
    assert out.finish_reason == "length" and out.reasoning_end == "length"


def test_generation_forced_answer_shares_max_tokens() -> None:
    engine = ScriptedEngine(["a", "b", "c"], ["x", "y", "z"])
    _, answer, out = collect(make_generation(engine, max_tokens=5, budget=3))
    assert answer == "xy"
    assert out.finish_reason == "length" and out.generated_tokens == 5


def test_generation_cancel_stops_the_stream() -> None:
    engine = ScriptedEngine([f"w{i} " for i in range(50)])
    reasoning, _, out = collect(make_generation(engine), stop_after=2)
    assert out.finish_reason == "canceled"
    assert reasoning.startswith("w0")
    assert out.reasoning_tokens < 5
    assert engine.closed == 1
