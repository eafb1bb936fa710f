"""What a verdict promises, case by case: every kind of agreement and equation, English and
Chinese, each asserting the verdict and exactly where the errors point (the text under each span)."""

from __future__ import annotations

import itertools

import pytest

from services.postproc.checks import Trace, run_checks
from shared.schemas import CheckReport

EGGS_EN = "A box holds 6 rows of 5 eggs. Are there more than 24 eggs in the box? Answer yes or no."
EGGS_ZH = "一个盒子里有4排鸡蛋，每排6个。盒子里的鸡蛋多于30个吗？请回答“是”或“否”。"
APPLES_EN = "Anna has 3 bags of 12 apples. Ben has 5 bags of 7 apples. Who has more apples, Anna or Ben?"
APPLES_ZH = "甲有3袋苹果，每袋12个；乙有5袋苹果，每袋7个。甲和乙谁的苹果多？"
CAGE_EN = (
    "A farm has chickens and rabbits, 35 heads and 94 legs in all. How many chickens and how many rabbits are there?"
)
CAGE_EN_R = (
    "Let x be the number of chickens and y the number of rabbits.\nx + y = 35\n2x + 4y = 94\n"
    "So there are 23 chickens and 12 rabbits."
)
CAGE_ZH = "鸡兔同笼，共有35个头，94只脚。鸡和兔各有多少只？"
CAGE_ZH_R = "设鸡有x只，兔有y只。\nx + y = 35\n2x + 4y = 94\n所以鸡有23只，兔有12只。"
SUMDIFF_ZH = "甲、乙两数的和是40，甲比乙大4。甲、乙两数各是多少？"
SUMDIFF_ZH_R = "设甲为x，乙为y。x + y = 40，x - y = 4。所以x = 22，y = 18。"
APPLES_3X4 = "Tom has 3 bags of 4 apples. How many apples does he have?"
ROPE_ZH = "一根绳子长12米，用去了3米，还剩多少米？"

# (question, reasoning, answer, verdict, error spans as {(field, text under the span)},
#  related spans of agreement errors as {(field, text)})
CASES = [
    # --- the answer against the reasoning's conclusion, values
    pytest.param(APPLES_3X4, "3 × 4 = 12. So he has 12 apples.", "He has 12 apples.", "pass", set(), set(),
                 id="so-marker-grounded-en"),
    pytest.param(APPLES_3X4, "3 × 4 = 12. So he has 12 apples.", "He has 15 apples.", "fail",
                 {("answer", "15")}, {("reasoning", "12")}, id="so-marker-contradicted-en"),
    pytest.param("What is 3 + 4? Write the answer in [brackets] like [7].", "The answer is 11.", "3 + 4 = 7",
                 "fail", {("answer", "7")}, {("reasoning", "11")}, id="issue-side-computation-is-not-a-pass"),
    pytest.param(APPLES_3X4, "3 × 4 = 12. Therefore the answer is 12.", "\\boxed{13}", "fail",
                 {("answer", "13")}, {("reasoning", "12")}, id="boxed-answer-en"),
    pytest.param("What share of 8 apples is 7 apples?", "7 ÷ 8 = 0.875. So the answer is 87.5%.", "7/8", "pass",
                 set(), set(), id="fraction-decimal-percent-agree"),
    pytest.param("What share of 8 apples is 7 apples?", "7 ÷ 8 = 0.875. So the answer is 87.5%.", "0.8", "fail",
                 {("answer", "0.8")}, {("reasoning", "87.5%")}, id="percent-contradicted"),
    pytest.param("A rope is 12 m long and 3 m are cut off. How long is the rest?", "12 - 3 = 9. So 9 m are left.",
                 "9 metres", "pass", set(), set(), id="unit-en"),
    pytest.param("How many legs do 23 chickens have?", "23 × 2 = 46. So the answer is 46.", "Forty-six legs.",
                 "unsure", set(), set(), id="english-number-words-agree-but-2-is-not-given"),
    pytest.param(ROPE_ZH, "12 - 3 = 9，所以还剩九米。", "还剩9米。", "pass", set(), set(), id="chinese-numeral-zh"),
    pytest.param(ROPE_ZH, "12 - 3 = 9，所以还剩九米。", "还剩八米。", "fail",
                 {("answer", "八")}, {("reasoning", "九")}, id="chinese-numeral-contradicted-zh"),
    pytest.param(ROPE_ZH, "12 - 3 = 9。答案是9米。", "答案是10米。", "fail",
                 {("answer", "10")}, {("reasoning", "9")}, id="da-an-shi-zh"),
    # --- several values
    pytest.param(CAGE_EN, CAGE_EN_R, "There are 23 chickens and 12 rabbits.", "pass", set(), set(),
                 id="several-values-en"),
    pytest.param(CAGE_EN, CAGE_EN_R, "There are 20 chickens and 15 rabbits.", "fail",
                 {("answer", "20 chickens and 15"), ("reasoning", "2x + 4y = 94")},
                 {("reasoning", "23 chickens and 12")},
                 id="several-values-contradicted-en"),
    pytest.param(CAGE_ZH, CAGE_ZH_R, "鸡有23只，兔有12只。", "pass", set(), set(), id="several-values-zh"),
    pytest.param(CAGE_ZH, CAGE_ZH_R, "鸡有二十只，兔有十五只。", "fail",
                 {("answer", "二十只，兔有十五"), ("reasoning", "2x + 4y = 94")}, {("reasoning", "23只，兔有12")},
                 id="several-values-chinese-numerals-zh"),
    pytest.param(SUMDIFF_ZH, SUMDIFF_ZH_R, "甲是22，乙是18。", "pass", set(), set(), id="jia-yi-zh"),
    pytest.param(SUMDIFF_ZH, SUMDIFF_ZH_R, "甲是25，乙是15。", "fail",
                 {("answer", "25，乙是15"), ("reasoning", "x - y = 4")}, {("reasoning", "22，y = 18")},
                 id="jia-yi-contradicted-zh"),
    pytest.param(CAGE_EN, CAGE_EN_R, "3", "fail", {("answer", "3")}, {("reasoning", "23 chickens and 12")},
                 id="several-asked-one-given"),
    # --- options and yes/no
    pytest.param(APPLES_EN, "3 × 12 = 36, 5 × 7 = 35. So Anna has more.", "Ben has more apples.", "fail",
                 {("answer", "Ben")}, {("reasoning", "Anna")}, id="option-en"),
    pytest.param(APPLES_EN, "3 × 12 = 36, 5 × 7 = 35. So Anna has more.", "Anna has more apples.", "unsure",
                 set(), set(), id="option-agrees-but-no-computation-gives-a-name"),
    pytest.param(APPLES_ZH, "3×12=36，5×7=35，所以甲多。", "乙的苹果多。", "fail",
                 {("answer", "乙")}, {("reasoning", "甲")}, id="option-zh"),
    pytest.param(EGGS_EN, "6 × 5 = 30. 30 > 24, so the answer is yes.", "No.", "fail",
                 {("answer", "No")}, {("reasoning", "yes")}, id="yes-no-en"),
    pytest.param(EGGS_ZH, "4×6=24，24<30，所以答案是否。", "是。", "fail",
                 {("answer", "是")}, {("reasoning", "否")}, id="yes-no-zh"),
    pytest.param(EGGS_EN, "6 × 5 = 30.", "Thirty eggs fit.", "fail", {("answer", "Thirty eggs fit.")}, set(),
                 id="yes-no-question-answered-without-yes-or-no"),
    # --- the question's own expression
    pytest.param("计算：(3 + 9) × 8 等于多少？", "3 + 9 = 12，12 × 8 = 96。", "96", "pass", set(), set(),
                 id="question-expression-zh"),
    pytest.param("计算：(3 + 9) × 8 等于多少？", "3 + 9 = 12，12 × 8 = 96。", "98", "fail", {("answer", "98")}, set(),
                 id="question-expression-contradicted-zh"),
    pytest.param("What is 5 × 7?", "", "100 × 7 = 700, to get 100.", "fail", {("answer", "100")}, set(),
                 id="question-expression-never-given"),
    # --- a result stated as a clause is the computation's result, not a new value
    pytest.param("What is 2 × 4?", "The answer is 2 × 4, which equals 8.", "2 × 4 = 8", "pass", set(), set(),
                 id="the-answer-is-expression-which-equals"),
    pytest.param(APPLES_3X4, "He has 3 × 4, which equals 12 apples.", "12 apples", "pass", set(), set(),
                 id="which-equals-grounded"),
    pytest.param(APPLES_3X4, "He has 3 × 4, which equals 13 apples.", "13 apples", "fail",
                 {("reasoning", "3 × 4, which equals 13")}, set(), id="which-equals-wrong"),
    pytest.param("5 pencils cost 30 dollars. How much is one pencil?", "Pencils.", "5 pencils cost 30 dollars.", "fail",
                 {("answer", "5 pencils cost 30 dollars.")}, set(), id="answer-only-repeats-the-question"),
    pytest.param("What is 8 + 11?", "Numbers are fun.", "Addition is fun.", "fail",
                 {("answer", "Addition is fun.")}, set(), id="no-number-at-all"),
    # --- equations posed by the question or set up in the reasoning
    pytest.param("Solve for x: 3x + 4 = 19.", "3x = 15, so x = 5.", "x = 5", "pass", set(), set(),
                 id="question-equation-en"),
    pytest.param("Solve for x: 3x + 4 = 19.", "3x = 15, so x = 5.", "x = 6", "fail",
                 # 3x = 15 sits next to "x = 5", so it reads as evaluated on a guess, not as a constraint
                 {("question", "3x + 4 = 19"), ("answer", "6")}, {("reasoning", "5")},
                 id="question-equation-unsatisfied-en"),
    pytest.param("Solve for x: 4x + 6 = 22.", "Hmm.", "5. 9.", "fail", {("question", "4x + 6 = 22")}, set(),
                 id="question-equation-no-value-solves"),
    pytest.param("Solve for x: 4x + 6 = 22.", "Hmm.", "Maybe 3, or 4.", "unsure", set(), set(),
                 id="question-equation-one-of-several-solves"),
    pytest.param("解方程：2x + 3 = 11，x 等于多少？", "2x = 8，所以 x = 4。", "4", "pass", set(), set(),
                 id="question-equation-bare-value-zh"),
    pytest.param("解方程：2x + 3 = 11，x 等于多少？", "2x = 8，所以 x = 4。", "x = 5", "fail",
                 {("question", "2x + 3 = 11"), ("answer", "5")}, {("reasoning", "4")},
                 id="question-equation-unsatisfied-zh"),
    pytest.param(CAGE_ZH, "设鸡有x只，兔有y只。\nx + y = 35\n2x + 4y = 94\n解得 x = 23，y = 12。",
                 "鸡有24只，兔有11只。", "fail", {("reasoning", "2x + 4y = 94")}, set(),
                 id="chinese-names-unsatisfied-zh"),
]  # fmt: skip


def spans(report: CheckReport, trace: Trace) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    texts = {"question": trace.question, "reasoning": trace.reasoning, "answer": trace.answer}
    errors = [f for f in report.findings if f.severity == "error"]
    at = {(f.span.field, texts[f.span.field][f.span.start : f.span.end]) for f in errors if f.span}
    related = {(f.related_span.field, texts[f.related_span.field][f.related_span.start : f.related_span.end])
               for f in errors if f.related_span}  # fmt: skip
    return at, related


@pytest.mark.parametrize(("question", "reasoning", "answer", "verdict", "error_spans", "related_spans"), CASES)
def test_verdict_and_spans(
    question: str,
    reasoning: str,
    answer: str,
    verdict: str,
    error_spans: set[tuple[str, str]],
    related_spans: set[tuple[str, str]],
) -> None:
    trace = Trace(question, reasoning, answer)
    report = run_checks(trace)
    assert report.verdict == verdict, report.findings
    assert spans(report, trace) == (error_spans, related_spans)


def test_verdict_findings_carry_the_checked_value_for_the_revision_prompt() -> None:
    report = run_checks(Trace("What is 12 + 30?", "Step 1: 12 + 30 = 32.\nSo the answer is 32.", "32"))
    arithmetic = next(f for f in report.findings if f.check == "arithmetic")
    assert (arithmetic.quote, arithmetic.expected) == ("12 + 30 = 32", "12 + 30 = 42")
    question = next(f for f in report.findings if f.check == "question")
    assert (question.quote, question.expected) == ("32", "12 + 30 = 42")


# ---------------------------------------------------------------------------------------------
# No answer that contradicts its reasoning passes, however the two are phrased.

PAIRS = [(12, 15), (7, 70), (23, 32), (5, 4)]
CONCLUDE_EN = ["So the answer is {v}.", "Therefore, {v}.", "The final answer is \\boxed{{{v}}}.", "Answer: {v}"]
CONCLUDE_ZH = ["所以答案是{v}。", "因此是{v}个。", "答案为{v}。", "最终答案：\\boxed{{{v}}}"]
ANSWER_EN = ["{v}", "The answer is {v}.", "\\boxed{{{v}}}", "He has {v} apples.", "**{v}**", "{v} apples in all."]
ANSWER_ZH = ["{v}", "答案是{v}。", "一共{v}个。", "\\boxed{{{v}}}", "他有{v}个苹果。"]
QUESTIONS = {
    "en": "Tom has 3 bags with 4 apples in each bag. How many apples does he have?",
    "zh": "小明有3袋苹果，每袋4个。他一共有多少个苹果？",
}
FAMILY = [
    (lang, conclude, answer, right, wrong)
    for lang, conclusions, answers in (("en", CONCLUDE_EN, ANSWER_EN), ("zh", CONCLUDE_ZH, ANSWER_ZH))
    for conclude, answer, (right, wrong) in itertools.product(conclusions, answers, PAIRS + [(b, a) for a, b in PAIRS])
]


@pytest.mark.parametrize(("lang", "conclude", "answer", "concluded", "said"), FAMILY)
def test_verdict_no_answer_contradicting_its_reasoning_passes(
    lang: str, conclude: str, answer: str, concluded: int, said: int
) -> None:
    reasoning = f"3 × 4 = 12. {concluded} - 12 + 12 = {concluded}. " + conclude.format(v=concluded)
    trace = Trace(QUESTIONS[lang], reasoning, answer.format(v=said))
    report = run_checks(trace)
    assert report.verdict == "fail", (trace, report.findings)
    assert any(f.check == "agreement" and f.related_span is not None for f in report.findings)


def test_verdict_the_family_is_large_and_covers_both_languages() -> None:
    assert len(FAMILY) >= 300 and {f[0] for f in FAMILY} == {"en", "zh"}


def test_verdict_reasoning_ended_on_request_is_said_but_not_held_against_the_answer() -> None:
    """A person pressed "stop thinking": the report says so, and a grounded answer still passes
    (a failed verdict would queue a revision that reasons all over again)."""
    trace = Trace(APPLES_3X4, "3 × 4 = 12. So he has 12 apples.", "He has 12 apples.", reasoning_end="requested")
    report = run_checks(trace)
    assert report.verdict == "pass", report.findings
    (said,) = [f for f in report.findings if f.check == "reasoning_closed"]
    assert said.severity == "info" and "on request" in said.message
