from __future__ import annotations

import pytest

from services.postproc.checks.arithmetic import Arithmetic
from services.postproc.checks.base import CheckResult, Trace
from services.postproc.checks.numbers import find_chains, normalize


def check(reasoning: str, answer: str = "") -> CheckResult:
    return Arithmetic().run(Trace(question="", reasoning=reasoning, answer=answer))


def errors(result: CheckResult) -> list[str]:
    return [f.message for f in result.findings if f.severity == "error"]


WRONG = [
    pytest.param("So 12 × 7 = 80 apples.", "12 × 7 = 80", id="times"),
    pytest.param("总数为１２×７＝８０只。", "１２×７＝８０", id="full-width"),
    pytest.param("Then 3 + 4 = 2 + 6 = 8.", "3 + 4 = 2 + 6", id="chain-middle"),
    pytest.param("We get 1,000,000 × 2 = 3,000,000 dollars.", "1,000,000 × 2 = 3,000,000", id="thousands"),
    pytest.param("So 15% × 200 = 35.", "15% × 200 = 35", id="percent"),
    pytest.param("Add them: 3/4 + 1/4 = 1.5.", "3/4 + 1/4 = 1.5", id="fractions"),
    pytest.param("And 2^10 = 1000 exactly.", "2^10 = 1000", id="power"),
    pytest.param("Area is 5² = 20.", "5² = 20", id="superscript"),
    pytest.param("So 100 ÷ 8 = 11.", "100 ÷ 8 = 11", id="divide-beyond-rounding"),
    pytest.param("Thus \\( 23 \\times 4 = 92 \\) and \\( 12 \\times 4 = 46 \\).", "12 \\times 4 = 46", id="latex"),
    pytest.param("1/3 = 0.5 roughly", "1/3 = 0.5", id="rounding-too-far"),
    pytest.param("12乘以7=86，所以", "12乘以7=86", id="chinese-words"),
    pytest.param("Wait, let me double-check: 46 + 48 = 96.", "46 + 48 = 96", id="wait-does-not-excuse"),
    pytest.param("4% of it: 0.04 × 1,250,000 = 51,000", "0.04 × 1,250,000 = 51,000", id="exact-decimal-not-rounded"),
    pytest.param("We multiply 2 × 4, which equals 9.", "2 × 4, which equals 9", id="which-equals"),
    pytest.param("First (2 + 6) × 3, which is 18 in all.", "(2 + 6) × 3, which is 18", id="which-is"),
    pytest.param("29 - 8 - 4 which gives 29", "29 - 8 - 4 which gives 29", id="which-gives"),
    pytest.param("2×4，结果是9。", "2×4，结果是9", id="result-clause-zh"),
    pytest.param("3加4得8。", "3加4得8", id="de-zh"),
]


@pytest.mark.parametrize(("reasoning", "claim"), WRONG)
def test_arithmetic_catches_wrong_computation(reasoning: str, claim: str) -> None:
    result = check(reasoning)
    (finding,) = [f for f in result.findings if f.severity == "error"]
    assert finding.span is not None
    assert reasoning[finding.span.start : finding.span.end] == claim
    assert finding.check == "arithmetic"


def test_arithmetic_message_names_the_right_value() -> None:
    (message,) = errors(check("So 12 × 7 = 80."))
    assert message == "12 × 7 = 80 is wrong: 12 × 7 = 84"


RIGHT = [
    pytest.param("So 12 × 7 = 84.", 1, id="times"),
    pytest.param("１２×７＝８４，所以", 1, id="full-width"),
    pytest.param("Total: 3 + 4 = 2 + 5 = 7.", 2, id="chain"),
    pytest.param("1,000,000 × 2 = 2,000,000", 1, id="thousands"),
    pytest.param("10/3 = 3.33, about", 1, id="stated-rounding"),
    pytest.param("22/7 ≈ 3.14", 1, id="approx"),
    pytest.param("The discount is 20% of 50 = 10 dollars", 1, id="percent-of"),
    pytest.param("So 45/60 = 0.75 = 75%.", 1, id="percent-conversion"),
    pytest.param("\\frac{94 - 70}{2} = 12", 1, id="latex-frac"),
    pytest.param("2(23) + 4(12) = 46 + 48 = 94", 2, id="implicit-times"),
    pytest.param("- 12 × 7 = 84", 1, id="markdown-bullet"),
    pytest.param("**12 × 7 = 84**", 1, id="markdown-bold"),
    pytest.param("*12 × 7 = 84*", 1, id="markdown-italic"),
    pytest.param("2 * 3 = 6", 1, id="ascii-star"),
    pytest.param("2 + 3 = 5 × 4 = 20", 1, id="running-total"),
    pytest.param("12 × 7 = 80? No, 12 × 7 = 84.", 1, id="self-corrected"),
    pytest.param("0.33 × 300 = 100", 0, id="rounded-input"),
    # Whole boxes, whole people: a result written as the exact value cut to an integer passes.
    pytest.param("100 ÷ 8 = 12 full boxes", 1, id="truncated-to-integer"),
    pytest.param("The answer is 2 × 4, which equals 8.", 1, id="which-equals"),
    pytest.param("20% of 50, which is 10 dollars", 1, id="percent-of-which-is"),
]


@pytest.mark.parametrize(("reasoning", "verified"), RIGHT)
def test_arithmetic_leaves_correct_computation_alone(reasoning: str, verified: int) -> None:
    result = check(reasoning)
    assert errors(result) == []
    assert result.verified == verified


NOT_ARITHMETIC = [
    pytest.param("The meeting is on 2024-05-10.", id="date"),
    pytest.param("It starts at 10:30 and ends 10:30 + 2 = 12:30.", id="time"),
    pytest.param("Call 555-1234 for help.", id="phone"),
    pytest.param("Mix sand and cement 3:2 = 1.5 parts sand per part.", id="ratio"),
    pytest.param("It takes 5-10 minutes.", id="range"),
    pytest.param("3 groups × 5-10 = 15-30 students", id="range-times"),
    pytest.param("面积 = π × 10² ≈ 3.14 × 100 = 314", id="pi-before"),
    pytest.param("Version 1.2 = 3 features.", id="version"),
    pytest.param("In 2024/05/10 = Friday.", id="slash-date"),
    pytest.param("so 50 = 0.2 × 250 = 50 means 20% of 250", id="bare-number-before"),
    pytest.param("Let x + 3 = 10, so x = 7.", id="unknowns"),
    pytest.param("20% of 50 = 0.2 × 50 = 10", id="of-continues"),
]


@pytest.mark.parametrize("reasoning", NOT_ARITHMETIC)
def test_arithmetic_does_not_read_non_arithmetic_as_wrong(reasoning: str) -> None:
    assert errors(check(reasoning)) == []


def test_arithmetic_self_correction_is_info_not_error() -> None:
    result = check("So 12 × 7 = 80. Hmm, that's wrong, it's 84.")
    assert [f.severity for f in result.findings] == ["info"]


def test_arithmetic_checks_the_answer_too() -> None:
    result = check("Fine.", answer="Total: 23 × 2 = 48 legs.")
    (finding,) = result.findings
    assert finding.span is not None and finding.span.field == "answer"


def test_arithmetic_huge_power_is_skipped_not_computed() -> None:
    assert check("9^99999999 = 5").findings == []


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("The sum of 5 and 7, which is 12.", id="no-operator-before-the-clause"),
        pytest.param("Divide 36 by 6, which is 6.", id="operation-in-words"),
        pytest.param("He is 7, which is young.", id="no-number-after"),
        pytest.param("5 + 2\nwhich is 7", id="clause-on-another-line"),
    ],
)
def test_arithmetic_result_clause_needs_a_written_computation(text: str) -> None:
    assert find_chains(normalize(text).text) == []
