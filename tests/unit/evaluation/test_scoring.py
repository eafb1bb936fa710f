from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from services.evaluation.chinese import numerals_to_digits, prepare
from services.evaluation.questions import Question
from services.evaluation.scoring import score


def q(
    gold: list[str], question: str = "", lang: str = "en", choices: list[str] | None = None, unordered: bool = False
) -> Question:
    return Question(id="q", lang=lang, question=question or "?", gold=gold, choices=choices, unordered=unordered)


CAGE = q(["23", "12"], "35 heads and 94 legs. How many chickens and how many rabbits?")
CAGE_ZH = q(["23", "12"], "鸡兔同笼，共有35个头，94条腿。鸡和兔各有多少只？", "zh")
CHANGE = q(["29"], "Pencils cost 3 dollars each. Tom buys 7 and pays with a 50-dollar bill. Change?")
PIZZA = q(["5/12"], "Mary ate 1/3 of a pizza and John ate 1/4. What fraction is left?")
SUM = q(["5050"], "What is the sum of 1 to 100?")
MEETING = q(["11:20"], "A meeting starts at 9:45 and lasts 95 minutes. When does it end?")
ROPE = q(["8"], "一根绳子长12米，用去了它的三分之一，还剩多少米？", "zh")
AVERAGE = q(["90"], "成绩分别是85分、90分和95分，平均分是多少？", "zh")
SUMDIFF = q(["32", "18"], "两个数的和是50，差是14，这两个数分别是多少？", "zh")
TWO_NUMBERS = q(["16", "13"], "Two numbers add up to 29 and differ by 3. What are they?", unordered=True)
DISCOUNT = q(["24"], "A shirt costs 30 dollars at 20% off. Sale price?")
SHARE = q(["0.875"], "What share is 7 of 8?")
PRIME_EN = q(["no"], "Is 91 a prime number? Answer yes or no.")
PRIME_ZH = q(["no"], "51是质数吗？请回答“是”或“否”。", "zh")
PARROT = q(["yes"], "All animals in the cage are parrots. Polly is in the cage. Is Polly a parrot? Answer yes or no.")
DIVISIBLE = q(["yes"], "一个整数能被6整除，它一定能被3整除吗？", "zh")
RACE = q(["Eve"], "Who won?", choices=["Dan", "Eve", "Finn"])
THIEF = q(["丙"], "是谁偷的？", "zh", choices=["甲", "乙", "丙"])

RIGHT = [
    pytest.param(CAGE, "There are 23 chickens and 12 rabbits.", id="two-values"),
    pytest.param(CAGE, "x = 23, y = 12", id="named-unknowns"),
    pytest.param(CAGE, "**Answer:** 23 chickens; 12 rabbits", id="after-marker"),
    pytest.param(CAGE_ZH, "答：鸡有二十三只，兔有十二只。", id="chinese-numerals"),
    pytest.param(CAGE_ZH, "鸡有２３只，兔有１２只。", id="full-width-digits"),
    pytest.param(TWO_NUMBERS, "The two numbers are 13 and 16.", id="unordered"),
    pytest.param(SUMDIFF, "答案：这两个数分别是32和18。", id="zhe-liang-is-not-a-value"),
    pytest.param(CHANGE, "7 × 3 = 21, 50 − 21 = 29. He gets $29 back.", id="last-value"),
    pytest.param(CHANGE, "The answer is 29 dollars.", id="after-answer-word"),
    pytest.param(SUM, "The sum is 5,050.", id="thousands-separator"),
    pytest.param(SUM, "The final answer is $\\boxed{5050}$.", id="latex-box"),
    pytest.param(PIZZA, "\\boxed{\\frac{5}{12}}", id="latex-fraction"),
    pytest.param(DISCOUNT, "The sale price is $24.", id="currency"),
    pytest.param(SHARE, "It is 87.5%.", id="percent-of-a-decimal-gold"),
    pytest.param(SHARE, "7/8", id="fraction-of-a-decimal-gold"),
    pytest.param(MEETING, "It ends at 11:20 AM.", id="clock-time"),
    pytest.param(ROPE, "还剩八米。", id="chinese-numeral-with-unit"),
    pytest.param(ROPE, "用去12×1/3=4米，还剩12-4=8米。", id="chinese-computed"),
    pytest.param(AVERAGE, "平均分是(85+90+95)÷3=90分。", id="gold-is-a-given"),
    pytest.param(PRIME_EN, "No, 91 = 7 × 13.", id="no"),
    pytest.param(PARROT, "Yes or no? Yes: every animal in the cage is a parrot.", id="yes-after-echo"),
    pytest.param(PRIME_ZH, "否。51=3×17。", id="fou"),
    pytest.param(PRIME_ZH, "不是，51能被3整除。", id="bu-shi"),
    pytest.param(DIVISIBLE, "是的，6是3的倍数。", id="shi-de"),
    pytest.param(DIVISIBLE, "答案是：是", id="shi-after-marker"),
    pytest.param(RACE, "Eve won the race.", id="name"),
    pytest.param(RACE, "The answer is EVE.", id="name-any-case"),
    pytest.param(THIEF, "答案是丙。", id="chinese-name"),
]


@pytest.mark.parametrize(("question", "answer"), RIGHT)
def test_score_accepts_right_answer(question: Question, answer: str) -> None:
    result = score(question, answer)
    assert result.correct, result.extracted


WRONG = [
    pytest.param(CAGE, "The answer is 23 chickens and 13 rabbits.", id="one-value-off"),
    pytest.param(CAGE, "There are 12 chickens and 23 rabbits.", id="values-swapped"),
    pytest.param(CAGE, "There are 23 chickens.", id="one-value-missing"),
    pytest.param(CHANGE, "He gets 21 dollars.", id="intermediate-result"),
    pytest.param(CHANGE, "The answer is 29.5 dollars.", id="near-miss-decimal"),
    pytest.param(SUM, "The sum is 5,000.", id="round-number"),
    pytest.param(PIZZA, "About 0.42 of the pizza is left.", id="rounded-decimal"),
    pytest.param(MEETING, "It ends at 11:25.", id="clock-time"),
    pytest.param(ROPE, "还剩四米。", id="chinese-numeral"),
    pytest.param(ROPE, "", id="empty"),
    pytest.param(PRIME_EN, "Yes, 91 is prime.", id="yes"),
    pytest.param(PRIME_ZH, "是。", id="shi"),
    pytest.param(PARROT, "Is Polly a parrot? Answer yes or no.", id="echoed-yes-or-no"),
    pytest.param(DIVISIBLE, "请回答“是”或“否”。", id="echoed-shi-huo-fou"),
    pytest.param(RACE, "Dan won.", id="other-name"),
    pytest.param(q(["26"], "What is 17 + 9?"), "What is 17 + 9?", id="echoed-question"),
    pytest.param(q(["26"], "What is 17 + 9?"), "17 + 9", id="echoed-expression"),
    pytest.param(THIEF, "是乙偷的。", id="other-chinese-name"),
]


@pytest.mark.parametrize(("question", "answer"), WRONG)
def test_score_rejects_wrong_or_missing_answer(question: Question, answer: str) -> None:
    assert not score(question, answer).correct


def test_score_reports_what_it_read() -> None:
    assert score(CAGE, "So there are 12 rabbits and 23 chickens.").extracted == ("12", "23")
    assert score(PRIME_ZH, "否").extracted == ("no",)
    assert score(RACE, "Nobody knows.").extracted == ()


@pytest.mark.parametrize(
    ("text", "digits"),
    [
        ("二十三只鸡", "23只鸡"),
        ("一百零五个人", "105个人"),
        ("三分之一", "1/3"),
        ("答案是十二。", "答案是12。"),
        ("一共有35个头", "一共有35个头"),
        ("十分简单", "十分简单"),
    ],
)
def test_chinese_numerals_to_digits(text: str, digits: str) -> None:
    assert numerals_to_digits(text) == digits


def test_chinese_prepare_spaces_digits_and_reads_markers() -> None:
    assert prepare("答案是二十六。") == " the final answer is 26。"
    assert prepare("不是，51能被3整除。", yes_no=True).split()[0] == "no"
    assert prepare("plain English 12") == "plain English 12"


def test_scoring_does_not_use_the_checks() -> None:
    # The figures that say how far a `pass` can be trusted must not grade answers with the
    # checker's own parser.
    code = (
        "import sys, services.evaluation.scoring, services.evaluation.harness;"
        "bad = [m for m in sys.modules if m.startswith('services.postproc')];"
        "sys.exit(f'scoring imports {bad}' if bad else 0)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_score_leaves_the_callers_alarm_alone() -> None:
    # math-verify's own timeout cancels every SIGALRM (RQ's job timeout among them); the scorer
    # runs it with its timeouts off.
    fired: list[int] = []
    previous = signal.signal(signal.SIGALRM, lambda *_: fired.append(1))
    try:
        signal.alarm(30)
        assert score(CAGE, "There are 23 chickens and 12 rabbits.").correct
        assert score(PRIME_EN, "No.").correct
        remaining = signal.alarm(0)
    finally:
        signal.signal(signal.SIGALRM, previous)
    assert 0 < remaining <= 30 and not fired
