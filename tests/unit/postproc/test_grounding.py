"""Grounding: a `pass` resting on computations needs every number they start from to come from
the question (as written: 25% also gives 0.25, 25 and 100; 1/3 gives 1 and 3) or from a verified
computation written before it. World knowledge (100 cents, 60 minutes, 2 legs) grounds nothing."""

from __future__ import annotations

import pytest
import sympy

from services.postproc.checks import Trace, givens, run_checks

PENS = "Tom buys 4 pens at 8 dollars each and pays with 40 dollars. How much change does he get?"
SHIRT = "A shirt costs 80 dollars and is sold at 25% off. How much does it cost now?"
BOXES = "Tom has 3 red boxes and 5 blue boxes, with 6 pencils in each box. How many pencils does he have?"

CASES = [
    # The held-out wrong pass: 100 was allowed as a starting number in every question.
    pytest.param(PENS, "There are 100 cents in a dollar, so 40 * 100 = 4000.", "4000 change.", "unsure",
                 id="hundred-not-in-the-question"),
    pytest.param(PENS, "4 × 8 = 32. 40 - 32 = 8. So the change is 8 dollars.", "8 dollars.", "pass",
                 id="question-numbers-then-a-verified-step"),
    pytest.param(SHIRT, "80 × 25 / 100 = 20. 80 - 20 = 60. So it costs 60 dollars.", "60 dollars", "pass",
                 id="hundred-of-a-percentage-in-the-question"),
    pytest.param(SHIRT, "25% × 80 = 20. 80 - 20 = 60. So it costs 60 dollars.", "60 dollars", "pass",
                 id="percentage-as-a-fraction"),
    pytest.param("A rope is 2 m long. How many cm is that?", "2 × 100 = 200. So it is 200 cm.", "200 cm", "unsure",
                 id="unit-conversion-is-world-knowledge"),
    pytest.param(BOXES, "3 + 5 = 8. 8 × 6 = 48. So he has 48 pencils.", "48 pencils", "pass",
                 id="earlier-step-grounds-a-later-one"),
    pytest.param(BOXES, "8 × 6 = 48. Also 3 + 5 = 8. So he has 48 pencils.", "48 pencils", "unsure",
                 id="a-number-used-before-it-is-computed-is-not-grounded"),
    pytest.param(BOXES, "8 × 6 = 48. So he has 48 pencils.", "48 pencils", "unsure",
                 id="a-number-from-nowhere"),
]  # fmt: skip


@pytest.mark.parametrize(("question", "reasoning", "answer", "verdict"), CASES)
def test_grounding_verdict(question: str, reasoning: str, answer: str, verdict: str) -> None:
    report = run_checks(Trace(question, reasoning, answer))
    assert report.verdict == verdict, report.findings


def test_grounding_givens_are_the_question_numbers_as_written() -> None:
    assert set(givens(PENS)) == {4, 8, 40}
    assert set(givens(SHIRT)) == {80, sympy.Rational(1, 4), 25, 100}
    assert set(givens("Drink 1/3 of 9 litres.")) == {sympy.Rational(1, 3), 1, 3, 9}
