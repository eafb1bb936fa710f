"""The question's computation said in words: an answer that contradicts it fails, whatever the
reasoning did; the right value passes on its own. Only when the phrasing is the whole question."""

from __future__ import annotations

import pytest

from services.postproc.checks import Trace, run_checks
from services.postproc.checks.phrasing import phrased_expression

# (question, the right value, a wrong value from right arithmetic on a wrong setup)
PHRASINGS = [
    pytest.param("What do you get if you multiply 7 by 6?", "42", "36", id="multiply-a-by-b"),
    pytest.param("Divide 96 by 8.", "12", "88", id="divide-a-by-b"),
    pytest.param("Add 29 and 14.", "43", "15", id="add-a-and-b"),
    pytest.param("Subtract 18 from 53.", "35", "71", id="subtract-a-from-b"),
    pytest.param("Take 40 away from 130. What is left?", "90", "170", id="take-a-away-from-b"),
    pytest.param("What is 9 more than 26?", "35", "17", id="a-more-than-b"),
    pytest.param("What number is 7 less than 31?", "24", "38", id="a-less-than-b"),
    pytest.param("What is the sum of 58 and 17?", "75", "41", id="sum-of"),
    pytest.param("What is the product of 12 and 11?", "132", "23", id="product-of"),
    pytest.param("What is the difference between 15 and 41?", "26", "56", id="difference-between"),
    pytest.param("What is half of 74?", "37", "148", id="half-of"),
    pytest.param("What is 11 squared?", "121", "22", id="squared"),
    pytest.param("What is 3 to the power of 4?", "81", "12", id="to-the-power-of"),
    pytest.param("Write 3/5 as a decimal.", "0.6", "0.35", id="write-as-a-decimal"),
    pytest.param("7乘以6得多少？", "42", "36", id="cheng-yi-zh"),
    pytest.param("96除以8等于多少？", "12", "88", id="chu-yi-zh"),
    pytest.param("29加14是多少？", "43", "15", id="jia-zh"),
    pytest.param("58与17的和是多少？", "75", "41", id="de-he-zh"),
    pytest.param("12和11的积是多少？", "132", "23", id="de-ji-zh"),
    pytest.param("41和15的差是多少？", "26", "56", id="de-cha-zh"),
    pytest.param("18比53少多少？", "35", "71", id="bi-shao-duoshao-zh"),
    pytest.param("比26多9的数是多少？", "35", "17", id="bi-duo-de-shu-zh"),
    pytest.param("74的一半是多少？", "37", "148", id="yi-ban-zh"),
    pytest.param("9的4倍是多少？", "36", "13", id="bei-zh"),
    pytest.param("3的4次方是多少？", "81", "12", id="ci-fang-zh"),
    pytest.param("8除96等于多少？", "12", "768", id="a-chu-b-zh"),
]


@pytest.mark.parametrize(("question", "right", "wrong"), PHRASINGS)
def test_phrasing_contradicted_fails_at_the_answer(question: str, right: str, wrong: str) -> None:
    # The reasoning agrees with the wrong answer, so only the question's own computation can catch it.
    trace = Trace(question, f"So the answer is {wrong}.", wrong)
    report = run_checks(trace)
    assert report.verdict == "fail", report.findings
    finding = next(f for f in report.findings if f.check == "question")
    assert finding.span is not None and trace.answer[finding.span.start : finding.span.end] == wrong


@pytest.mark.parametrize(("question", "right", "wrong"), PHRASINGS)
def test_phrasing_right_value_passes(question: str, right: str, wrong: str) -> None:
    report = run_checks(Trace(question, f"So the answer is {right}.", right))
    assert report.verdict == "pass", report.findings


def test_phrasing_the_multiply_trace_kind_fails() -> None:
    # Right arithmetic on a wrong setup: "8 × 8 = 64" asked to multiply 9 by 8.
    trace = Trace("What do you get if you multiply 9 by 8?", "8 × 8 = 64. So the answer is 64.", "64")
    report = run_checks(trace)
    assert report.verdict == "fail"
    assert any(f.expected == "multiply 9 by 8 = 72" for f in report.findings)


@pytest.mark.parametrize(
    "question",
    [
        "Tom has 5 more than 12 cards and gives 3 away. How many cards does he have now?",
        "What is 3 more than 4 more than 5?",
        "Is 3/4 greater than 0.7?",
        "Kim is 4 years older than her brother. The sum of their ages is 30. How old is Kim?",
        "小明比小红多5张卡片，小红有12张，小明有多少张？",
    ],
)
def test_phrasing_not_the_whole_question_is_not_read(question: str) -> None:
    assert phrased_expression(question) is None


def test_phrasing_a_yes_no_question_is_not_a_computation() -> None:
    report = run_checks(Trace("Is 12 more than 7?", "12 > 7, so the answer is yes.", "Yes."))
    assert report.verdict != "fail", report.findings
