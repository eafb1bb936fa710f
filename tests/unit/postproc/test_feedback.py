"""The revision prompt names the wrong step, quotes it, gives the checked value, in the question's language."""

from __future__ import annotations

import pytest

from services.postproc.checks import Trace, run_checks
from services.postproc.feedback import MAX_REASONING_CHARS, feedback, language_of, step_of
from shared.schemas import CheckReport, Finding, Span

REASONING_EN = "Tom has 12 red and 30 blue marbles.\nStep 2: 12 + 30 = 32.\nSo the answer is 32."
REASONING_ZH = "小明有12个红球和30个蓝球。\n第2步：12 + 30 = 32。\n所以答案是32。"


def prompt(question: str, reasoning: str, answer: str) -> str:
    return feedback(question, answer, reasoning, run_checks(Trace(question, reasoning, answer)))


@pytest.mark.parametrize(
    ("question", "lang"),
    [
        pytest.param("What is 12 + 30?", "en", id="english"),
        pytest.param("12 + 30 等于多少？", "zh", id="chinese-with-maths"),
        pytest.param("小明有12个红球和30个蓝球，一共有多少个球？", "zh", id="chinese"),
        pytest.param("Solve 2x + 3 = 11 for x; 请用中文回答", "zh", id="mixed-mostly-chinese-letters-count-less"),
        pytest.param("", "en", id="empty"),
    ],
)
def test_language_of_question(question: str, lang: str) -> None:
    assert language_of(question) == lang


@pytest.mark.parametrize(
    ("reasoning", "needle", "step"),
    [
        pytest.param(REASONING_EN, "12 + 30 = 32", 2, id="step-label"),
        pytest.param(REASONING_ZH, "12 + 30 = 32", 2, id="chinese-step-label"),
        pytest.param("First, 3 × 4 = 12.\n\nThen 12 + 5 = 18.", "12 + 5", 2, id="non-empty-lines-counted"),
        pytest.param("1. a = 3\n2. b = 4\n3. 3 + 4 = 8", "3 + 4", 3, id="numbered-list"),
    ],
)
def test_step_of_position(reasoning: str, needle: str, step: int) -> None:
    assert step_of(reasoning, reasoning.index(needle)) == step


def test_feedback_names_the_step_quotes_it_and_gives_the_checked_value_in_english() -> None:
    text = prompt("Tom has 12 red and 30 blue marbles. How many marbles in all?", REASONING_EN, "32")
    assert "- In step 2 you wrote 12 + 30 = 32, but 12 + 30 = 42." in text
    assert REASONING_EN in text and text.rstrip().endswith('"The answer is …".')


def test_feedback_is_in_chinese_for_a_chinese_question() -> None:
    text = prompt("小明有12个红球和30个蓝球，一共有多少个球？", REASONING_ZH, "32")
    assert "- 在第2步中你写了 12 + 30 = 32，但 12 + 30 = 42。" in text
    assert text.startswith("你上面的答案经过自动检查") and "答案是" in text
    assert "checked automatically" not in text


def test_feedback_quotes_both_sides_of_a_contradiction() -> None:
    text = prompt("What is 3 + 4?", "3 + 4 = 7. So the answer is 7.", "The answer is 11.")
    assert "Your answer says 11, but your reasoning concluded 7." in text
    assert "Your answer says 11, but the question asks for 3 + 4 = 7." in text


def test_feedback_for_unsatisfied_equations_in_chinese() -> None:
    reasoning = "设鸡有x只，兔有y只。\nx + y = 35\n2x + 4y = 94\n解得 x = 23，y = 12。"
    text = prompt("鸡兔同笼，共有35个头，94只脚。鸡和兔各有多少只？", reasoning, "鸡有24只，兔有11只。")
    assert "在第3步中方程 2x + 4y = 94 对你的答案不成立" in text


def test_feedback_lists_errors_only_and_cuts_a_long_reasoning() -> None:
    report = CheckReport(
        verdict="fail",
        findings=[
            Finding(check="reasoning_closed", severity="warning", message="closed by the server"),
            Finding(check="answer_present", severity="error", message="The model gave no answer."),
        ],
    )
    long = "x" * (MAX_REASONING_CHARS + 500) + "END"
    text = feedback("What is 2 + 2?", "", long, report)
    assert "closed by the server" not in text and "- The model gave no answer." in text
    assert "…" in text and "END" in text and "x" * (MAX_REASONING_CHARS + 1) not in text


def test_feedback_answer_span_is_called_the_answer() -> None:
    finding = Finding(
        check="arithmetic",
        severity="error",
        message="2 + 2 = 5 is wrong",
        span=Span(field="answer", start=0, end=9),
        quote="2 + 2 = 5",
        expected="2 + 2 = 4",
    )
    text = feedback("2 + 2 等于几？", "2 + 2 = 5", "", CheckReport(verdict="fail", findings=[finding]))
    assert "- 在你的答案中你写了 2 + 2 = 5，但 2 + 2 = 4。" in text
