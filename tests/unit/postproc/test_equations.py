from __future__ import annotations

import pytest

from services.postproc.checks.base import CheckResult, Trace
from services.postproc.checks.equations import Equations, bindings

EN = (
    "Let x be the number of chickens and y the number of rabbits. So x + y = 35 and 2x + 4y = 94.\n\n"
    "Let me try a guess first: if x = 20, then 2x + 4y = 40 + 60 = 100, too many legs.\n\n"
    "From the first equation y = 35 - x, so 2x + 4(35 - x) = 94, which gives -2x = -46."
)
ZH = "设鸡有x只，兔有y只。\n则 x + y = 35，2x + 4y = 94。\n解得 x = 23，y = 12。"


def check(reasoning: str, answer: str, question: str = "") -> CheckResult:
    return Equations().run(Trace(question=question, reasoning=reasoning, answer=answer))


def test_bindings_reads_english_and_chinese_names() -> None:
    assert bindings(EN) == {"x": "chicken", "y": "rabbit"}
    assert bindings(ZH) == {"x": "鸡", "y": "兔"}


SATISFIED = [
    pytest.param(EN, "There are 23 chickens and 12 rabbits.", id="en-named"),
    pytest.param(EN, "x = 23, y = 12", id="en-direct"),
    pytest.param(ZH, "鸡有23只，兔有12只。", id="zh-name-first"),
    pytest.param(ZH, "共有23只鸡和12只兔子。", id="zh-number-first"),
]


@pytest.mark.parametrize(("reasoning", "answer"), SATISFIED)
def test_equations_verifies_values_that_satisfy(reasoning: str, answer: str) -> None:
    result = check(reasoning, answer)
    assert result.findings == []
    assert result.verified >= 2


VIOLATED = [
    pytest.param(EN, "There are 22 chickens and 13 rabbits.", "2x + 4y = 94", id="en-named"),
    pytest.param(EN, "x = 24, y = 11", "2x + 4y = 94", id="en-direct"),
    pytest.param(ZH, "鸡有24只，兔有11只。", "2x + 4y = 94", id="zh"),
]


@pytest.mark.parametrize(("reasoning", "answer", "equation"), VIOLATED)
def test_equations_catches_values_that_do_not_satisfy(reasoning: str, answer: str, equation: str) -> None:
    result = check(reasoning, answer)
    spans = [reasoning[f.span.start : f.span.end] for f in result.findings if f.span is not None]
    assert equation in spans
    assert all(f.severity == "error" and f.check == "equations" for f in result.findings)


def test_equations_message_shows_values_and_sides() -> None:
    result = check(ZH, "鸡有24只，兔有11只。")
    assert result.findings[0].message == (
        "The answer's values (x = 24, y = 11) do not satisfy 2x + 4y = 94 from the reasoning:"
        " with x = 24, y = 11 the left side comes to 92 and the right side to 94"
    )


def test_equations_ignores_an_equation_the_reasoning_restated() -> None:
    reasoning = "Let x be the number of chickens and y the number of rabbits. x + y = 30.\nOh, 35 heads: x + y = 35."
    assert check(reasoning, "23 chickens and 12 rabbits").findings == []


def test_equations_ignores_an_equation_called_wrong() -> None:
    reasoning = (
        "Let x be the number of chickens and y the number of rabbits. 4x + 2y = 94. "
        "No, that's wrong: legs are 2x + 4y = 94."
    )
    assert check(reasoning, "23 chickens and 12 rabbits").findings == []


def test_equations_without_values_in_the_answer_is_silent() -> None:
    result = check(EN, "I am not sure.")
    assert result.findings == [] and result.verified == 0


def test_equations_ambiguous_name_is_not_guessed() -> None:
    result = check(EN, "23 chickens, or maybe 25 chickens, and 12 rabbits")
    assert result.findings == []
