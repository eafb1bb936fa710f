from __future__ import annotations

import pytest

from services.postproc.checks.agreement import Agreement
from services.postproc.checks.base import CheckResult, Trace

CAGE_Q = "A cage holds chickens and rabbits: 35 heads and 94 legs. How many of each?"
CAGE_R = (
    "Let x be chickens, y rabbits. x + y = 35, 2x + 4y = 94. Subtract twice the first: 2y = 24, y = 12, x = 23.\n"
    "Check: 23 × 2 = 46, 12 × 4 = 48, 46 + 48 = 94. Good.\n"
    "So there are 23 chickens and 12 rabbits."
)
SHOP_R = "Each pack costs 6 and he buys 7, so 6 × 7 = 42. Wait, is there a discount? No. So the answer is 42."
ZH_R = "每天读12页，共读了7天，12 × 7 = 84。所以答案是84页。"


def check(reasoning: str, answer: str, question: str = "") -> CheckResult:
    return Agreement().run(Trace(question=question, reasoning=reasoning, answer=answer))


AGREE = [
    pytest.param(CAGE_Q, CAGE_R, "There are 23 chickens and 12 rabbits.", id="two-values"),
    pytest.param("", SHOP_R, "\\boxed{42}", id="boxed"),
    pytest.param("", SHOP_R, "He pays 6 × 7 = 42 in total. **Answer: 42**", id="restated-steps"),
    pytest.param("", ZH_R, "他一共读了84页。", id="chinese"),
    pytest.param("", "So the answer is 0.75.", "75%", id="percent-form"),
    pytest.param("", "So the answer is 3/4.", "0.75", id="fraction-form"),
    pytest.param("", "The answer is 33.33 liters.", "About 33.3 liters.", id="rounded-in-answer"),
    pytest.param("", "So the answer is 10:30.", "They meet at 10:30.", id="time"),
]


@pytest.mark.parametrize(("question", "reasoning", "answer"), AGREE)
def test_agreement_verifies_matching_answer(question: str, reasoning: str, answer: str) -> None:
    result = check(reasoning, answer, question)
    assert result.findings == []
    assert result.verified >= 1


DISAGREE = [
    pytest.param(CAGE_Q, CAGE_R, "There are 23 chickens and 13 rabbits.", "13", id="one-value-off"),
    pytest.param("", SHOP_R, "\\boxed{24}", "24", id="boxed"),
    pytest.param("", SHOP_R, "The answer is 48.", "48", id="strong-marker"),
    pytest.param("", ZH_R, "答案是48页。", "48", id="chinese"),
    pytest.param("", "So the answer is 10:30.", "They meet at 11:30.", "11:30", id="time"),
]


@pytest.mark.parametrize(("question", "reasoning", "answer", "said"), DISAGREE)
def test_agreement_catches_contradicting_answer(question: str, reasoning: str, answer: str, said: str) -> None:
    (finding,) = check(reasoning, answer, question).findings
    assert finding.severity == "error"
    assert finding.span is not None and finding.span.field == "answer"
    assert answer[finding.span.start : finding.span.end] == said


def test_agreement_message_says_both_values() -> None:
    (finding,) = check(SHOP_R, "The answer is 24.").findings
    assert finding.message == "The answer says 24 but the reasoning concluded 42"


SILENT = [
    pytest.param("", "Hmm, I think it depends on the day.", "42", id="no-conclusion"),
    pytest.param("", SHOP_R, "It depends.", id="no-value-in-answer"),
    pytest.param("", "So 23 × 2 = 46 legs come from chickens.", "23 chickens", id="weak-marker-computed"),
    pytest.param(CAGE_Q, CAGE_R, "\\boxed{23}", id="answer-leaves-one-out"),
    pytest.param(CAGE_Q, CAGE_R, "With 35 heads, 23 chickens and 12 rabbits.", id="givens-restated"),
]


@pytest.mark.parametrize(("question", "reasoning", "answer"), SILENT)
def test_agreement_stays_silent_when_unsure(question: str, reasoning: str, answer: str) -> None:
    assert check(reasoning, answer, question).findings == []
