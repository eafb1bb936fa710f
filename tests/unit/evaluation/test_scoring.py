from __future__ import annotations

import pytest

from services.evaluation.questions import Question
from services.evaluation.scoring import score, zh_numerals_to_digits


def q(gold: list[str], question: str = "", lang: str = "en", choices: list[str] | None = None) -> Question:
    return Question(id="q", lang=lang, question=question or "?", gold=gold, choices=choices)


CAGE = q(["23", "12"], "35 heads and 94 legs. How many chickens and how many rabbits?")
CAGE_ZH = q(["23", "12"], "鸡兔同笼，共有35个头，94条腿。鸡和兔各有多少只？", "zh")
CHANGE = q(["29"], "Pencils cost 3 dollars each. Tom buys 7 and pays with a 50-dollar bill. Change?")
PIZZA = q(["5/12"], "Mary ate 1/3 of a pizza and John ate 1/4. What fraction is left?")
SUM = q(["5050"], "What is the sum of 1 to 100?")
MEETING = q(["11:20"], "A meeting starts at 9:45 and lasts 95 minutes. When does it end?")
ROPE = q(["8"], "一根绳子长12米，用去了它的三分之一，还剩多少米？", "zh")
AVERAGE = q(["90"], "成绩分别是85分、90分和95分，平均分是多少？", "zh")
SUMDIFF = q(["32", "18"], "两个数的和是50，差是14，这两个数分别是多少？", "zh")
PRIME_EN = q(["no"], "Is 91 a prime number? Answer yes or no.")
PRIME_ZH = q(["no"], "51是质数吗？请回答“是”或“否”。", "zh")
PARROT = q(["yes"], "All animals in the cage are parrots. Polly is in the cage. Is Polly a parrot? Answer yes or no.")
DIVISIBLE = q(["yes"], "一个整数能被6整除，它一定能被3整除吗？", "zh")
RACE = q(["Eve"], "Who won?", choices=["Dan", "Eve", "Finn"])
THIEF = q(["丙"], "是谁偷的？", "zh", choices=["甲", "乙", "丙"])

RIGHT = [
    pytest.param(CAGE, "There are 23 chickens and 12 rabbits.", id="two-values"),
    pytest.param(CAGE, "x = 23, y = 12. Check: 23 × 2 + 12 × 4 = 94.", id="check-result-is-a-given"),
    pytest.param(CAGE, "\\boxed{23} chickens and \\boxed{12} rabbits", id="two-boxes"),
    pytest.param(CAGE, "**Answer:**\n1. Chickens: 23\n2. Rabbits: 12", id="numbered-list-after-marker"),
    pytest.param(CAGE, "1. The answer is 23.\n2. The answer is 12.\n3.", id="list-numbers-are-not-values"),
    pytest.param(CAGE_ZH, "答：鸡有二十三只，兔有十二只。", id="chinese-numerals"),
    pytest.param(CAGE_ZH, "鸡有２３只，兔有１２只。", id="full-width-digits"),
    pytest.param(CHANGE, "7 × 3 = 21, 50 − 21 = 29. He gets $29 back.", id="last-value"),
    pytest.param(CHANGE, "The answer is 29 dollars, because 7 × 3 = 21.", id="first-value-after-marker"),
    pytest.param(SUM, "The sum is 5,050.", id="thousands-separator"),
    pytest.param(SUM, "The final answer is $\\boxed{5050}$.", id="latex-box"),
    pytest.param(PIZZA, "\\boxed{\\frac{5}{12}}", id="latex-fraction"),
    pytest.param(PIZZA, "About 0.42 of the pizza is left.", id="rounded-decimal"),
    pytest.param(MEETING, "It ends at 11:20 AM.", id="clock-time"),
    pytest.param(ROPE, "还剩八米。", id="chinese-numeral-with-unit"),
    pytest.param(ROPE, "用去12×1/3=4米，还剩12-4=8米。", id="chinese-computed"),
    pytest.param(AVERAGE, "平均分是(85+90+95)÷3=90分。", id="gold-is-a-given"),
    pytest.param(SUMDIFF, "答案：这两个数分别是32和18。", id="zhe-liang-is-not-a-value"),
    pytest.param(PRIME_EN, "No, 91 = 7 × 13.", id="no"),
    pytest.param(PARROT, "Yes or no? Yes: every animal in the cage is a parrot.", id="yes-after-echo"),
    pytest.param(PRIME_ZH, "否。51=3×17。", id="fou"),
    pytest.param(PRIME_ZH, "不是，51能被3整除。", id="bu-shi"),
    pytest.param(DIVISIBLE, "是的，6是3的倍数。", id="shi-de"),
    pytest.param(DIVISIBLE, "答案是：是", id="shi-after-marker"),
    pytest.param(RACE, "Eve won the race.", id="name"),
    pytest.param(RACE, "The answer is \\boxed{eve}", id="name-any-case"),
    pytest.param(THIEF, "答案是丙。", id="chinese-name"),
]


@pytest.mark.parametrize(("question", "answer"), RIGHT)
def test_score_accepts_right_answer(question: Question, answer: str) -> None:
    result = score(question, answer)
    assert result.correct, result.extracted


WRONG = [
    pytest.param(CAGE, "The answer is 23 chickens and 13 rabbits.", id="one-value-off"),
    pytest.param(CAGE, "There are 23 chickens.", id="one-value-missing"),
    pytest.param(CAGE, "\\boxed{23, 12, 11}", id="extra-value-in-box"),
    pytest.param(CHANGE, "He gets 21 dollars.", id="intermediate-result"),
    pytest.param(CHANGE, "The answer is 29.5 dollars.", id="near-miss-decimal"),
    pytest.param(SUM, "The sum is 5,000.", id="round-number"),
    pytest.param(PIZZA, "0.4 of the pizza is left.", id="too-coarse-rounding"),
    pytest.param(MEETING, "It ends at 11:25.", id="clock-time"),
    pytest.param(ROPE, "还剩四米。", id="chinese-numeral"),
    pytest.param(ROPE, "", id="empty"),
    pytest.param(PRIME_EN, "Yes, 91 is prime.", id="yes"),
    pytest.param(PRIME_EN, "91 is not a prime number.", id="no-explicit-no"),
    pytest.param(PRIME_ZH, "51是合数，不是质数。", id="copula-is-not-an-answer"),
    pytest.param(PARROT, "Is Polly a parrot? Answer yes or no.", id="echoed-yes-or-no"),
    pytest.param(DIVISIBLE, "请回答“是”或“否”。", id="echoed-shi-huo-fou"),
    pytest.param(RACE, "Every runner tried, but Dan won.", id="name-inside-a-word"),
    pytest.param(THIEF, "是乙偷的。", id="other-name"),
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
        ("两万元", "20000元"),
        ("三分之一", "1/3"),
        ("答案是十二。", "答案是12。"),
        ("这两个数", "这两个数"),
        ("第二个", "第二个"),
        ("一共有一个", "一共有一个"),
        ("十分简单", "十分简单"),
        ("三十分钟", "30分钟"),
    ],
)
def test_zh_numerals_to_digits_converts_counts_only(text: str, digits: str) -> None:
    assert zh_numerals_to_digits(text) == digits
