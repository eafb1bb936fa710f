from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.inference.engine import Sampling
from services.inference.generation import BUDGET_MESSAGE_SEPARATOR, FORCED_CLOSE, Generation, OnDeltas, Outcome
from services.inference.splitter import Delta
from tests.support.fake_engine import ScriptedEngine, ScriptedModel

GREEDY = Sampling(temperature=0.0, top_p=1.0, seed=None)


MESSAGE = "Time is up: I answer from what I have."


def make_generation(
    engine: ScriptedEngine, *, max_tokens: int = 100, budget: int = 50, n_ctx: int = 4096, message: str = ""
) -> Generation:
    return Generation(
        engine,
        [1, 2, 3],
        max_tokens=max_tokens,
        max_reasoning_tokens=budget,
        n_ctx=n_ctx,
        sampling=GREEDY,
        budget_message=message,
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


def test_generation_budget_message_ends_the_reasoning_and_precedes_the_closing_tag() -> None:
    engine = ScriptedEngine(["a", "b", "c", "d"], ["Answer", " 4"])
    reasoning, answer, out = collect(make_generation(engine, budget=3, message=MESSAGE))
    assert reasoning == "abc" + BUDGET_MESSAGE_SEPARATOR + MESSAGE
    assert answer == "Answer 4"
    # The model writes the answer after reading the message, then the closing tag.
    closing = engine.tokenize(BUDGET_MESSAGE_SEPARATOR + MESSAGE + FORCED_CLOSE)
    assert engine.calls[1] == [1, 2, 3, 1000, 1001, 1002, *closing]
    # The message is the worker's text, not generated: it is not counted as reasoning tokens.
    assert out.reasoning_tokens == 3 and out.reasoning_end == "budget"


def test_generation_budget_message_is_streamed_before_any_answer_token() -> None:
    engine = ScriptedEngine(["a", "b"], ["x"])
    calls: list[list[Delta]] = []
    make_generation(engine, budget=2, message=MESSAGE).run(lambda deltas, _: calls.append(deltas) or True)
    kinds = [d.kind for deltas in calls for d in deltas]
    assert kinds == ["reasoning", "reasoning", "reasoning", "answer"]
    assert calls[2] == [Delta("reasoning", BUDGET_MESSAGE_SEPARATOR + MESSAGE)]


def test_generation_cancel_seen_at_the_budget_message_stops_before_the_answer() -> None:
    engine = ScriptedEngine(["a", "b"], ["x"])
    out = make_generation(engine, budget=2, message=MESSAGE).run(
        lambda deltas, _: not any(MESSAGE in d.text for d in deltas)
    )
    assert out.finish_reason == "canceled" and out.answer_tokens == 0
    assert len(engine.calls) == 1


def test_generation_budget_message_not_written_when_the_model_ends_its_turn_while_reasoning() -> None:
    engine = ScriptedEngine(["I think ", "so"], ["Yes."])
    reasoning, answer, out = collect(make_generation(engine, message=MESSAGE))
    assert (reasoning, answer) == ("I think so", "Yes.")
    assert out.reasoning_end == "eos"
    assert engine.calls[1][-len(FORCED_CLOSE) - 1 :] == [1001, *engine.tokenize(FORCED_CLOSE)]


def test_generation_budget_message_not_written_for_a_zero_budget() -> None:
    engine = ScriptedEngine(["Direct"])
    reasoning, answer, _ = collect(make_generation(engine, budget=0, message=MESSAGE))
    assert (reasoning, answer) == ("", "Direct")
    assert engine.calls[0] == [1, 2, 3, *engine.tokenize(FORCED_CLOSE)]


def test_generation_empty_budget_message_closes_with_the_tag_alone() -> None:
    engine = ScriptedEngine(["a", "b"], ["x"])
    reasoning, _, _ = collect(make_generation(engine, budget=2, message=""))
    assert reasoning == "ab"
    assert engine.calls[1] == [1, 2, 3, 1000, 1001, *engine.tokenize(FORCED_CLOSE)]


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


# ---------------------------------------------------------------------------------------------
# Resuming: a generation restored from the first k tokens of an uninterrupted one, then run,
# must stream exactly the rest of its text and end the same way, for every k.

ResumeCase = tuple[str, list[str], list[str], dict[str, object]]

RESUME_CASES: list[ResumeCase] = [
    ("model closes", ["Two", " plus", " two", "\n</th", "ink>", "\n\n", "Four", "."], [], {}),
    ("budget forcing", ["a", " b", " c", " d", " e"], ["Answer", " is", " 4"], {"budget": 3}),
    ("eos forcing", ["I", " think", " so", "  "], ["Yes", "."], {}),
    ("zero budget", [], ["Direct", " answer", "."], {"budget": 0}),
    ("stop string across tokens", ["r", "</think>", "one", " ST", "O", "P", " two"], [], {"stop": ["STOP"]}),
    ("max_tokens in the answer", ["r", "</think>", "one", " two", " three", " four"], [], {"max_tokens": 4}),
    ("max_tokens in the reasoning", ["a", "b", "c", "d", "e"], [], {"max_tokens": 3}),
    ("budget then max_tokens", ["a", "b", "c"], ["x", "y", "z"], {"budget": 3, "max_tokens": 5}),
    ("budget message", ["a", " b", " c", " d"], ["Answer", " 4"], {"budget": 3, "message": MESSAGE}),
    ("message, then max_tokens", ["a", "b", "c"], ["x", "y"], {"budget": 3, "max_tokens": 4, "message": MESSAGE}),
    ("eos with a budget message set", ["I", " think"], ["Yes", "."], {"message": MESSAGE}),
    ("multi-byte character split", ["caf", "\xc3", "\xa9 ", "</think>", "\xe2\x82", "\xac", "5"], [], {}),
    ("tag inside the answer", ["r", "</think>", "a <", "/think", "> b"], [], {}),
]


class BytesModel(ScriptedModel):
    """Pieces written as latin-1 escapes are raw bytes (a character split across tokens)."""

    def piece(self, token: int) -> bytes:
        return super().piece(token).decode().encode("latin-1")

    def stream(self, tokens: list[int], sampling: Sampling) -> Iterator[tuple[int, bytes]]:  # type: ignore[override]
        for token, piece in super().stream(tokens, sampling):
            yield token, piece.decode().encode("latin-1")


def resumable(script: list[str], after_close: list[str], options: dict[str, object]) -> tuple[BytesModel, Generation]:
    engine = BytesModel(script, after_close)
    generation = Generation(
        engine,
        [1, 2, 3],
        max_tokens=int(options.get("max_tokens", 100)),  # type: ignore[call-overload]
        max_reasoning_tokens=int(options.get("budget", 50)),  # type: ignore[call-overload]
        n_ctx=4096,
        sampling=GREEDY,
        stop=options.get("stop", []),  # type: ignore[arg-type]
        budget_message=str(options.get("message", "")),
    )
    return engine, generation


def per_token(generation: Generation) -> tuple[list[list[Delta]], list[Delta], object]:
    """Deltas of each token of an uninterrupted run, and those after its last token (the tail)."""
    steps: list[list[Delta]] = []

    def on_deltas(deltas: list[Delta], out: object) -> bool:
        if len(generation.outcome.tokens) > len(steps):
            steps.append(list(deltas))
        elif steps and all(d.kind == "reasoning" for d in deltas):
            steps[-1].extend(deltas)  # the budget message: part of the token that closed the block
        else:
            tail.extend(deltas)
        return True

    tail: list[Delta] = []
    outcome = generation.run(on_deltas)
    return steps, tail, outcome


def text_of(deltas: list[Delta]) -> tuple[str, str]:
    return (
        "".join(d.text for d in deltas if d.kind == "reasoning"),
        "".join(d.text for d in deltas if d.kind == "answer"),
    )


@pytest.mark.parametrize(("name", "script", "after_close", "options"), RESUME_CASES, ids=[c[0] for c in RESUME_CASES])
def test_generation_resumed_at_every_token_ends_as_the_uninterrupted_run(
    name: str, script: list[str], after_close: list[str], options: dict[str, object]
) -> None:
    _, whole = resumable(script, after_close, options)
    steps, tail, expected = per_token(whole)
    tokens = list(whole.outcome.tokens)
    close = whole.outcome.forced_close
    for cut in range(len(tokens) + 1):
        # The close is known to the resumer only once an event after it was written; at the
        # close itself both may happen.
        marks = [close] if close is not None and close.at_token < cut else [None]
        if close is not None and close.at_token == cut:
            marks = [close, None]
        for mark in marks:
            _, resumed = resumable(script, after_close, options)
            replayed = resumed.restore(tokens[:cut], [float(i) for i in range(cut)], mark)
            assert text_of(replayed) == text_of([d for step in steps[:cut] for d in step]), (name, cut)
            rest: list[Delta] = []
            outcome = resumed.run(lambda deltas, _, rest=rest: rest.extend(deltas) or True)  # type: ignore[misc]
            assert text_of(rest) == text_of([d for step in steps[cut:] for d in step] + tail), (name, cut, mark)
            assert outcome.tokens == tokens
            assert outcome.kept_tokens == cut and outcome.live_tokens == len(tokens) - cut
            same = ("finish_reason", "reasoning_end", "reasoning_tokens", "answer_tokens", "forced_close")
            assert {f: getattr(outcome, f) for f in same} == {f: getattr(expected, f) for f in same}, (name, cut)


def test_generation_resumed_model_is_given_the_prompt_and_the_kept_tokens() -> None:
    engine, whole = resumable(["a", " b", " c", " d"], ["x", " y"], {"budget": 3})
    per_token(whole)
    tokens = whole.outcome.tokens
    engine, resumed = resumable(["a", " b", " c", " d"], ["x", " y"], {"budget": 3})
    resumed.restore(tokens[:4], [0.0] * 4, whole.outcome.forced_close)
    assert resumed.context == [1, 2, 3, *tokens[:3], *engine.tokenize(FORCED_CLOSE), tokens[3]]
    resumed.run(lambda deltas, _: True)
    assert engine.calls == [[1, 2, 3, *tokens[:3], *engine.tokenize(FORCED_CLOSE), tokens[3]]]


def test_generation_resumed_after_the_budget_message_gives_the_model_the_same_context() -> None:
    script, after = ["a", " b", " c", " d"], ["Answer", " is", " 4"]
    engine, whole = resumable(script, after, {"budget": 3, "message": MESSAGE})
    per_token(whole)
    tokens = whole.outcome.tokens
    engine, resumed = resumable(script, after, {"budget": 3, "message": MESSAGE})
    replayed = resumed.restore(tokens[:4], [0.0] * 4, whole.outcome.forced_close)
    assert text_of(replayed) == ("a b c" + BUDGET_MESSAGE_SEPARATOR + MESSAGE, "Answer")
    closing = engine.tokenize(BUDGET_MESSAGE_SEPARATOR + MESSAGE + FORCED_CLOSE)
    assert resumed.context == [1, 2, 3, *tokens[:3], *closing, tokens[3]]
    # Replayed as evaluated live: the last reasoning token, the message and the tag in one piece.
    assert resumed.replay_chunks() == [[tokens[0]], [tokens[1]], [tokens[2], *closing], [tokens[3]]]
    resumed.run(lambda deltas, _: True)
    assert resumed.outcome.tokens == tokens


def test_generation_restored_timings_come_from_when_the_kept_tokens_were_streamed() -> None:
    _, whole = resumable(["a", "</think>", "b", "c"], [], {})
    per_token(whole)
    _, resumed = resumable(["a", "</think>", "b", "c"], [], {})
    resumed.restore(whole.outcome.tokens[:3], [10.0, 11.0, 12.0])
    outcome = resumed.run(lambda deltas, _: True)
    assert outcome.first_token_at == 10.0 and outcome.reasoning_end_at == 11.0
    assert outcome.live_first_at is not None and outcome.live_first_at > 12.0


def test_generation_replay_chunks_are_the_pieces_the_model_evaluated() -> None:
    """Generated tokens were evaluated one at a time; the worker's closing tag in one piece,
    after the budget together with the last reasoning token (sampled, never evaluated alone)."""
    tag = ScriptedEngine().tokenize(FORCED_CLOSE)
    for reason in ("budget", "eos"):
        _, generation = resumable(["a", "b"], ["x", "y"], {"budget": 2 if reason == "budget" else 50})
        per_token(generation)
        a, b, x, y = generation.outcome.tokens
        assert generation.outcome.forced_close is not None and generation.outcome.forced_close.reason == reason
        expected = [[a], [b, *tag]] if reason == "budget" else [[a], [b], tag]
        assert generation.replay_chunks() == [*expected, [x], [y]]


# ---------------------------------------------------------------------------------------------
# A client's request to end the reasoning now (`end_reasoning`).


def requesting_at(generation: Generation, at_token: int) -> OnDeltas:
    """Deltas go to `seen`; the request comes while the `at_token`-th token is handled."""

    def on_deltas(deltas: list[Delta], out: Outcome) -> bool:
        seen.extend(deltas)
        if len(out.tokens) == at_token:
            generation.end_reasoning()
        return True

    seen: list[Delta] = []
    on_deltas.seen = seen  # type: ignore[attr-defined]
    return on_deltas


def test_generation_end_reasoning_closes_after_the_current_token() -> None:
    engine = ScriptedEngine(["a", "b", "c", "d", "never seen"], ["Answer", " 4"])
    generation = make_generation(engine)
    on_deltas = requesting_at(generation, 2)
    out = generation.run(on_deltas)
    assert text_of(on_deltas.seen) == ("ab", "Answer 4")  # type: ignore[attr-defined]
    assert out.reasoning_end == "requested" and out.finish_reason == "stop"
    assert out.forced_close is not None and (out.forced_close.at_token, out.forced_close.reason) == (2, "requested")
    assert (out.reasoning_tokens, out.answer_tokens) == (2, 2)
    # The answer goes on from the prompt, the two reasoning tokens and the closing tag.
    assert engine.calls[1] == [1, 2, 3, 1000, 1001, *engine.tokenize(FORCED_CLOSE)]


def test_generation_end_reasoning_before_the_first_token_answers_without_reasoning() -> None:
    engine = ScriptedEngine(["Direct", " answer"])
    generation = make_generation(engine)
    generation.end_reasoning()
    reasoning, answer, out = collect(generation)
    assert (reasoning, answer) == ("", "Direct answer")
    assert out.reasoning_end == "requested" and out.forced_close is not None and out.forced_close.at_token == 0


def test_generation_end_reasoning_once_answering_changes_nothing() -> None:
    engine = ScriptedEngine(["r", "</think>", "one", " two"])
    generation = make_generation(engine)
    on_deltas = requesting_at(generation, 3)
    out = generation.run(on_deltas)
    assert text_of(on_deltas.seen) == ("r", "one two")  # type: ignore[attr-defined]
    assert out.reasoning_end == "model" and out.forced_close is None and len(engine.calls) == 1


def test_generation_resumed_after_a_requested_close_ends_as_the_uninterrupted_run() -> None:
    script, after_close = ["a", " b", " c", " d", " e"], ["Answer", " is", " 4"]
    _, whole = resumable(script, after_close, {})
    steps: list[list[Delta]] = []

    def on_deltas(deltas: list[Delta], out: Outcome) -> bool:
        steps.append(list(deltas))
        if len(out.tokens) == 2:
            whole.end_reasoning()
        return True

    expected = whole.run(on_deltas)
    tokens, close = list(expected.tokens), expected.forced_close
    assert (
        close is not None
        and close.reason == "requested"
        and text_of([d for step in steps for d in step]) == ("a b", "Answer is 4")
    )
    for cut in range(len(tokens) + 1):
        _, resumed = resumable(script, after_close, {})
        # Known to the resumer once an event after the close was written; before, the request
        # is still in Redis and the new worker reads it again.
        resumed.restore(tokens[:cut], [float(i) for i in range(cut)], close if close.at_token < cut else None)
        rest: list[Delta] = []

        def go_on(deltas: list[Delta], out: Outcome, rest: list[Delta] = rest, resumed: Generation = resumed) -> bool:
            rest.extend(deltas)
            if len(out.tokens) >= 2:
                resumed.end_reasoning()
            return True

        if cut >= 2:
            resumed.end_reasoning()
        outcome = resumed.run(go_on)
        assert text_of(rest) == text_of([d for step in steps[cut:] for d in step]), cut
        assert outcome.tokens == tokens and outcome.forced_close == close and outcome.reasoning_end == "requested"
        assert resumed.replay_chunks() == [[tokens[0]], [tokens[1], *resumed_tag()], *([t] for t in tokens[2:])]


def resumed_tag() -> list[int]:
    return ScriptedEngine().tokenize(FORCED_CLOSE)
