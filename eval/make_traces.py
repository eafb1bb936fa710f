"""Write eval/traces.jsonl: a labelled set of reasoning traces for measuring the answer checker.

Each problem family writes an R1-style trace (numbered steps, "Wait,", "Alternatively,", a check
at the end) in English and Chinese, correct or with one planted error:
- arithmetic: one stated computation is wrong and the mistake carries through to the answer;
- equation: the algebra slips, so the values do not satisfy the equations written down;
- agreement: the reasoning is right but the answer states something else;
- completeness: no answer, an answer cut off by max_tokens, or an answer stuck in a loop.
Correct traces carry the traps a checker must not fall into: dates, clock times, phone numbers,
ratios, ranges, thousands separators, stated rounding, guesses, self-corrections.

Deterministic: `.venv/bin/python eval/make_traces.py` always writes the same file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

OUT = Path(__file__).parent / "traces.jsonl"

Trace = dict[str, str]
Family = Callable[[tuple, str, str | None], Trace]


def num(x: float | Fraction | int, sep: bool = False) -> str:
    value = Fraction(x).limit_denominator(10_000) if isinstance(x, float) else Fraction(x)
    if value.denominator == 1:
        return f"{value.numerator:,}" if sep else str(value.numerator)
    text = f"{float(value):.4f}".rstrip("0").rstrip(".")
    return text


# ---------------------------------------------------------------------------------------------
# Chickens and rabbits: algebra (equations) or "suppose all were chickens" (arithmetic only)


def cage(p: tuple, lang: str, error: str | None) -> Trace:
    heads, legs, method = p
    rabbits = (legs - 2 * heads) // 2
    chickens = heads - rabbits
    c, r = chickens, rabbits
    if lang == "en":
        q = f"A farm has chickens and rabbits. Together they have {heads} heads and {legs} legs. How many chickens and how many rabbits are there?"
    else:
        q = f"鸡兔同笼，上有{heads}个头，下有{legs}只脚。问鸡和兔各有多少只？"
    if method == "algebra":
        xc = c + 1 if error == "equation" else c
        xr = heads - xc
        if lang == "en":
            rsn = (
                "Okay, so I need to figure out how many chickens and rabbits there are. Chickens have 2 legs, rabbits have 4, "
                "and each animal has one head.\n\n"
                "Let x be the number of chickens and y the number of rabbits.\n"
                f"1. x + y = {heads}\n2. 2x + 4y = {legs}\n\n"
                f"From equation 1, y = {heads} - x. Substitute into equation 2:\n"
                f"2x + 4({heads} - x) = {legs}\n2x + {4 * heads} - 4x = {legs}\n-2x = {legs - 4 * heads}\n"
            )
            if error == "equation":
                rsn += f"x = {xc}\n\nThen y = {heads} - {xc} = {xr}.\n\n"
            else:
                rsn += (
                    f"x = {xc}\n\nWait, let me double-check: -2x = {legs - 4 * heads} means x = {legs - 4 * heads} / (-2) = {c}. Yes.\n\n"
                    f"Then y = {heads} - {c} = {r}.\n\n"
                    f"Let me verify: {c} × 2 = {2 * c} legs from chickens, {r} × 4 = {4 * r} legs from rabbits, "
                    f"and {2 * c} + {4 * r} = {legs}. That matches.\n\n"
                )
            rsn += f"So there are {xc} chickens and {xr} rabbits."
            ac, ar = (c, r + 1) if error == "agreement" else (xc, xr)
            ans = f"There are **{ac} chickens** and **{ar} rabbits**.\n\nSetting x + y = {heads} and 2x + 4y = {legs} gives x = {ac}, y = {ar}."
            if error == "agreement":
                ans = f"There are **{ac} chickens** and **{ar} rabbits**."
        else:
            rsn = (
                "嗯，这是经典的鸡兔同笼问题。鸡有2只脚，兔有4只脚，每只动物一个头。\n\n"
                "设鸡有x只，兔有y只。\n"
                f"1. x + y = {heads}\n2. 2x + 4y = {legs}\n\n"
                f"由第一个方程得 y = {heads} - x，代入第二个方程：\n"
                f"2x + 4({heads} - x) = {legs}\n2x + {4 * heads} - 4x = {legs}\n-2x = {legs - 4 * heads}\n"
            )
            if error == "equation":
                rsn += f"x = {xc}\n\n所以 y = {heads} - {xc} = {xr}。\n\n"
            else:
                rsn += (
                    f"x = {c}\n\n等等，再确认一下：{legs - 4 * heads} ÷ (-2) = {c}，没错。\n\n"
                    f"所以 y = {heads} - {c} = {r}。\n\n"
                    f"验算：鸡的脚 {c} × 2 = {2 * c}，兔的脚 {r} × 4 = {4 * r}，{2 * c} + {4 * r} = {legs}，正确。\n\n"
                )
            rsn += f"所以鸡有{xc}只，兔有{xr}只。"
            ac, ar = (c - 1, r) if error == "agreement" else (xc, xr)
            ans = f"鸡有**{ac}只**，兔有**{ar}只**。"
        return {"question": q, "reasoning": rsn, "answer": ans}
    # "Suppose all were chickens."
    extra = legs - 2 * heads
    said_extra = extra + 4 if error == "arithmetic" else extra
    sr = said_extra // 2
    sc = heads - sr
    if lang == "en":
        rsn = (
            "Hmm, classic problem. I could set up equations, but there's a quicker way.\n\n"
            f"Suppose all {heads} animals were chickens. Then there would be {heads} × 2 = {2 * heads} legs.\n\n"
            f"But we have {legs} legs, so the extra is {legs} - {2 * heads} = {said_extra}.\n\n"
            f"Each rabbit has 2 more legs than a chicken, so the number of rabbits is {said_extra} ÷ 2 = {sr}.\n\n"
            f"Then chickens: {heads} - {sr} = {sc}.\n\n"
            f"Alternatively, I could check with the legs directly: {sc} chickens and {sr} rabbits... yes, that's the split.\n\n"
            f"So there are {sc} chickens and {sr} rabbits."
        )
        ac, ar = (sc + 2, sr) if error == "agreement" else (sc, sr)
        ans = f"**{ac} chickens and {ar} rabbits.**"
    else:
        rsn = (
            "用假设法。\n\n"
            f"假设{heads}只全是鸡，那么脚有 {heads} × 2 = {2 * heads} 只。\n\n"
            f"实际有{legs}只脚，多出 {legs} - {2 * heads} = {said_extra} 只。\n\n"
            f"每只兔比鸡多2只脚，所以兔有 {said_extra} ÷ 2 = {sr} 只。\n\n"
            f"鸡有 {heads} - {sr} = {sc} 只。\n\n"
            f"所以鸡有{sc}只，兔有{sr}只。"
        )
        ac, ar = (sc, sr + 3) if error == "agreement" else (sc, sr)
        ans = f"答：鸡有{ac}只，兔有{ar}只。"
    return {"question": q, "reasoning": rsn, "answer": ans}


CAGE = [(35, 94, "algebra"), (20, 56, "shortcut"), (50, 140, "algebra"), (30, 100, "shortcut"), (16, 44, "algebra")]


# ---------------------------------------------------------------------------------------------
# Shopping with a percentage discount


def shop(p: tuple, lang: str, error: str | None) -> Trace:
    price, qty, pct = p
    subtotal = Fraction(price) * qty
    said_sub = subtotal + 10 if error == "arithmetic" else subtotal
    discount = said_sub * pct / 100
    total = said_sub - discount
    rate = Fraction(100 - pct, 100)
    if lang == "en":
        q = f"A notebook costs ${num(price)}. Mia buys {qty} notebooks and gets a {pct}% discount on the total. How much does she pay?"
        rsn = (
            f"First, the total before the discount: {qty} × {num(price)} = {num(said_sub)} dollars.\n\n"
            f"The discount is {pct}% of {num(said_sub)}, which is {num(said_sub)} × {num(Fraction(pct, 100))} = {num(discount)}.\n\n"
            f"So she pays {num(said_sub)} - {num(discount)} = {num(total)}.\n\n"
            "Wait, is the discount per notebook or on the total? The problem says on the total, but it's the same either way.\n\n"
            f"Alternatively, she pays {100 - pct}% of the price: {num(said_sub)} × {num(rate)} = {num(total)}. Same result.\n\n"
            f"So the answer is ${num(total)}."
        )
        shown = total + 5 if error == "agreement" else total
        ans = (
            f"Mia pays **${num(shown)}**.\n\n- Before discount: ${num(said_sub)}\n- Discount ({pct}%): ${num(discount)}"
        )
        if error == "agreement":
            ans = f"Mia pays **${num(shown)}**."
    else:
        q = f"一本笔记本{num(price)}元。小美买了{qty}本，总价打{pct}%的折扣（减{pct}%）。她要付多少钱？"
        rsn = (
            f"先算原价：{qty} × {num(price)} = {num(said_sub)}元。\n\n"
            f"折扣是{num(said_sub)}的{pct}%：{num(said_sub)} × {num(Fraction(pct, 100))} = {num(discount)}元。\n\n"
            f"实付：{num(said_sub)} - {num(discount)} = {num(total)}元。\n\n"
            f"换个方法验证：付{100 - pct}%，{num(said_sub)} × {num(rate)} = {num(total)}，一致。\n\n"
            f"所以答案是{num(total)}元。"
        )
        shown = total - 3 if error == "agreement" else total
        ans = f"小美需要付**{num(shown)}元**。"
    return {"question": q, "reasoning": rsn, "answer": ans}


SHOP = [(12, 7, 15), (25, 4, 20), (3.5, 12, 10), (18, 5, 25)]


# ---------------------------------------------------------------------------------------------
# Travel time with clock times and a date


def clock(minutes: int) -> str:
    return f"{minutes // 60}:{minutes % 60:02d}"


def travel(p: tuple, lang: str, error: str | None) -> Trace:
    start, dist, speed, day = p
    hours = Fraction(dist, speed)
    said = hours + Fraction(1, 4) if error == "arithmetic" else hours
    whole, minutes = int(said), int((said - int(said)) * 60)
    arrive = start + int(said * 60)
    shown = arrive + 60 if error == "agreement" else arrive
    if lang == "en":
        q = f"On {day}, a train leaves at {clock(start)} and travels {dist} km at {speed} km/h. When does it arrive?"
        rsn = (
            f"The date {day} doesn't matter, only the times.\n\n"
            f"Time = distance ÷ speed = {dist} ÷ {speed} = {num(said)} hours.\n\n"
            f"{num(said)} hours is {whole} hours and {minutes} minutes.\n\n"
            f"Leaving at {clock(start)}, adding {whole} hours gives {clock(start + whole * 60)}, then {minutes} more minutes gives {clock(arrive)}.\n\n"
            "Wait, should I worry about stops? The problem doesn't mention any, so no.\n\n"
            f"So the answer is {clock(arrive)}."
        )
        ans = f"The train arrives at **{clock(shown)}** on {day}."
    else:
        q = f"{day}，一列火车{clock(start)}出发，以每小时{speed}千米的速度行驶{dist}千米。几点到达？"
        rsn = (
            f"日期{day}不影响计算，只看时间。\n\n"
            f"时间 = 路程 ÷ 速度 = {dist} ÷ {speed} = {num(said)} 小时。\n\n"
            f"{num(said)}小时就是{whole}小时{minutes}分钟。\n\n"
            f"{clock(start)}出发，加{whole}小时是{clock(start + whole * 60)}，再加{minutes}分钟是{clock(arrive)}。\n\n"
            f"所以答案是{clock(arrive)}。"
        )
        ans = f"火车在**{clock(shown)}**到达。"
    return {"question": q, "reasoning": rsn, "answer": ans}


TRAVEL = [
    (10 * 60 + 30, 150, 60, "2024-05-10"),
    (8 * 60 + 15, 210, 70, "2024-03-02"),
    (9 * 60 + 40, 120, 80, "2023-11-28"),
    (14 * 60 + 20, 100, 40, "2024-07-01"),
]


# ---------------------------------------------------------------------------------------------
# Population growth with thousands separators and stated rounding


def growth(p: tuple, lang: str, error: str | None) -> Trace:
    people, pct = p
    inc = people * pct // 100
    said_inc = inc + 1000 if error == "arithmetic" else inc
    after = people + said_inc
    second = Fraction(after * (100 + pct), 100)
    shown = after - 10_000 if error == "agreement" else after
    s = lambda x: num(x, sep=True)  # noqa: E731
    if lang == "en":
        q = f"A city has {s(people)} people and the population grows by {pct}% a year. What is the population after one year?"
        rsn = (
            f"The increase is {pct}% of {s(people)} = {num(Fraction(pct, 100))} × {s(people)} = {s(said_inc)}.\n\n"
            f"After one year: {s(people)} + {s(said_inc)} = {s(after)}.\n\n"
            f"Alternatively, multiply by 1.0{pct}: that should give the same {s(after)}.\n\n"
            f"Just out of curiosity, after two years it would be about {s(after)} × 1.0{pct} ≈ {s(round(second))}, but the question only asks for one year.\n\n"
            f"So the population after one year is {s(after)}."
        )
        ans = f"After one year the population is **{s(shown)}**."
    else:
        q = f"某城市有{s(people)}人，人口每年增长{pct}%。一年后人口是多少？"
        rsn = (
            f"增长量是{s(people)}的{pct}%：{s(people)} × {num(Fraction(pct, 100))} = {s(said_inc)}人。\n\n"
            f"一年后：{s(people)} + {s(said_inc)} = {s(after)}人。\n\n"
            f"两年后大约是 {s(after)} × 1.0{pct} ≈ {s(round(second))}，不过题目只问一年。\n\n"
            f"所以一年后人口是{s(after)}人。"
        )
        ans = f"一年后人口为**{s(shown)}**人。"
    return {"question": q, "reasoning": rsn, "answer": ans}


GROWTH = [(1_250_000, 4), (2_400_000, 5), (860_000, 3), (3_500_000, 2)]


# ---------------------------------------------------------------------------------------------
# Fractions of a book


def pages(p: tuple, lang: str, error: str | None) -> Trace:
    total, f1, f2 = p
    day1 = total * f1
    said1 = day1 - 5 if error == "arithmetic" else day1
    rest = total - said1
    day2 = rest * f2
    left = rest - day2
    shown = left + 10 if error == "agreement" else left
    fr = lambda f: f"{f.numerator}/{f.denominator}"  # noqa: E731
    if lang == "en":
        q = f"A book has {total} pages. Lily reads {fr(f1)} of it on Monday and {fr(f2)} of the remaining pages on Tuesday. How many pages are left?"
        rsn = (
            f"Monday: {fr(f1)} of {total} = {total} × {fr(f1)} = {num(said1)} pages.\n\n"
            f"Remaining after Monday: {total} - {num(said1)} = {num(rest)} pages.\n\n"
            f"Tuesday: {fr(f2)} of the remaining, not of the whole book. Wait, let me re-read... yes, of the remaining. "
            f"So {num(rest)} × {fr(f2)} = {num(day2)} pages.\n\n"
            f"Left: {num(rest)} - {num(day2)} = {num(left)} pages.\n\n"
            f"So the answer is {num(left)} pages."
        )
        ans = f"There are **{num(shown)} pages** left."
    else:
        q = f"一本书有{total}页。丽丽周一读了全书的{fr(f1)}，周二读了剩下的{fr(f2)}。还剩多少页？"
        rsn = (
            f"周一读了 {total} × {fr(f1)} = {num(said1)} 页。\n\n"
            f"剩下 {total} - {num(said1)} = {num(rest)} 页。\n\n"
            f"周二读的是剩下的{fr(f2)}，不是全书的：{num(rest)} × {fr(f2)} = {num(day2)} 页。\n\n"
            f"还剩 {num(rest)} - {num(day2)} = {num(left)} 页。\n\n"
            f"所以答案是{num(left)}页。"
        )
        ans = f"还剩**{num(shown)}页**。"
    return {"question": q, "reasoning": rsn, "answer": ans}


PAGES = [
    (120, Fraction(3, 4), Fraction(1, 3)),
    (240, Fraction(2, 3), Fraction(1, 4)),
    (180, Fraction(5, 6), Fraction(2, 5)),
    (360, Fraction(3, 8), Fraction(1, 5)),
]


# ---------------------------------------------------------------------------------------------
# Sharing in a ratio


def ratio(p: tuple, lang: str, error: str | None) -> Trace:
    money, a, b = p
    part = money // (a + b)
    said_part = part + 2 if error == "arithmetic" else part
    ann, ben = a * said_part, b * said_part
    shown = (ann, ben + 4) if error == "agreement" else (ann, ben)
    if lang == "en":
        q = f"Ann and Ben share ${money} in the ratio {a}:{b}. How much does each get? (Each usually saves 5-10% of it.)"
        rsn = (
            f"The ratio {a}:{b} means {a} + {b} = {a + b} parts in total. The 5-10% savings note is irrelevant.\n\n"
            f"Each part is {money} ÷ {a + b} = {said_part}.\n\n"
            f"Ann gets {a} × {said_part} = {ann} and Ben gets {b} × {said_part} = {ben}.\n\n"
            f"Check the ratio: {ann}:{ben} simplifies to {a}:{b}. Good.\n\n"
            f"So Ann gets ${ann} and Ben gets ${ben}."
        )
        ans = f"Ann gets **${shown[0]}** and Ben gets **${shown[1]}**."
    else:
        q = f"安和本按{a}:{b}分{money}元。各得多少？"
        rsn = (
            f"{a}:{b}表示一共 {a} + {b} = {a + b} 份。\n\n"
            f"每份 {money} ÷ {a + b} = {said_part} 元。\n\n"
            f"安得 {a} × {said_part} = {ann} 元，本得 {b} × {said_part} = {ben} 元。\n\n"
            f"比例 {ann}:{ben} 化简是 {a}:{b}，对。\n\n"
            f"所以安得{ann}元，本得{ben}元。"
        )
        ans = f"安得**{shown[0]}元**，本得**{shown[1]}元**。"
    return {"question": q, "reasoning": rsn, "answer": ans}


RATIO = [(50, 3, 2), (84, 4, 3), (120, 5, 3), (90, 7, 2)]


# ---------------------------------------------------------------------------------------------
# Two numbers from their sum and difference (equations)


def two_numbers(p: tuple, lang: str, error: str | None) -> Trace:
    total, diff = p
    big = (total + diff) // 2
    said_big = big + 1 if error == "equation" else big
    small = total - said_big
    shown = (said_big, small + 1) if error == "agreement" else (said_big, small)
    if lang == "en":
        q = f"The sum of two numbers is {total} and their difference is {diff}. What are the numbers?"
        rsn = (
            "Let x be the larger number and y the smaller one.\n\n"
            f"x + y = {total}\nx - y = {diff}\n\n"
            f"Adding the two equations: 2x = {total + diff}, so x = {said_big}.\n\n"
            f"Then y = {total} - {said_big} = {small}.\n\n"
        )
        if error != "equation":
            rsn += f"Check the difference: {big} - {small} = {diff}. Yes.\n\n"
        rsn += f"So x = {said_big} and y = {small}."
        ans = f"The numbers are **{shown[0]}** and **{shown[1]}** (x = {shown[0]}, y = {shown[1]})."
    else:
        q = f"两个数的和是{total}，差是{diff}。这两个数是多少？"
        rsn = (
            "设较大的数为x，较小的数为y。\n\n"
            f"x + y = {total}\nx - y = {diff}\n\n"
            f"两式相加：2x = {total + diff}，所以 x = {said_big}。\n\n"
            f"y = {total} - {said_big} = {small}。\n\n"
        )
        if error != "equation":
            rsn += f"验算：{big} - {small} = {diff}，对。\n\n"
        rsn += f"所以较大的数是{said_big}，较小的数是{small}。"
        ans = f"较大的数是**{shown[0]}**，较小的数是**{shown[1]}**。"
    return {"question": q, "reasoning": rsn, "answer": ans}


TWO = [(47, 13), (60, 8), (100, 36), (75, 21)]


# ---------------------------------------------------------------------------------------------
# Ages (equations with a guess tried first)


def ages(p: tuple, lang: str, error: str | None) -> Trace:
    k, years = p
    son = years // (k - 2)
    said = son + 2 if error == "equation" else son
    father = k * said
    shown = (said, father + 3) if error == "agreement" else (said, father)
    guess = son + 3
    if lang == "en":
        q = f"A father is {k} times as old as his son. In {years} years he will be twice as old as his son. How old are they now?"
        rsn = (
            "Let me try a guess first.\n\n"
            f"If s = {guess}, then the father is {k * guess}, and in {years} years: {k * guess + years} vs 2 × {guess + years} = {2 * (guess + years)}. "
            "Not equal, so that's not it.\n\n"
            f"Let s be the son's age now, so the father is {k}s. In {years} years:\n"
            f"{k}s + {years} = 2(s + {years})\n{k}s + {years} = 2s + {2 * years}\n"
        )
        rsn += f"So s = {said}.\n\n" if error == "equation" else f"{k - 2}s = {years}\ns = {son}\n\n"
        rsn += f"Father: {k} × {said} = {father}.\n\nSo the son is {said} and the father is {father}."
        ans = f"The son is **{shown[0]}** and the father is **{shown[1]}** (s = {shown[0]})."
    else:
        q = f"父亲的年龄是儿子的{k}倍，{years}年后父亲的年龄是儿子的2倍。父子现在各多少岁？"
        rsn = (
            "先试一个数。\n\n"
            f"如果 s = {guess}，父亲 {k * guess} 岁，{years}年后：{k * guess + years} 和 2 × {guess + years} = {2 * (guess + years)}，不相等。\n\n"
            f"设儿子现在s岁，父亲{k}s岁。{years}年后：\n"
            f"{k}s + {years} = 2(s + {years})\n{k}s + {years} = 2s + {2 * years}\n"
        )
        rsn += f"所以 s = {said}。\n\n" if error == "equation" else f"{k - 2}s = {years}\ns = {son}\n\n"
        rsn += f"父亲 {k} × {said} = {father} 岁。\n\n所以儿子{said}岁，父亲{father}岁。"
        ans = f"儿子**{shown[0]}岁**，父亲**{shown[1]}岁**（s = {shown[0]}）。"
    return {"question": q, "reasoning": rsn, "answer": ans}


AGES = [(3, 12), (4, 10), (5, 15), (3, 9)]


# ---------------------------------------------------------------------------------------------
# Averages with a phone number in the question and a self-corrected slip


def average(p: tuple, lang: str, error: str | None) -> Trace:
    scores = p
    total = sum(scores)
    said_total = total - 10 if error == "arithmetic" else total
    mean = Fraction(said_total, len(scores))
    shown = mean + 1 if error == "agreement" else mean
    listed = ", ".join(str(s) for s in scores)
    adds = " + ".join(str(s) for s in scores)
    slip = f"{scores[0]} + {scores[1]} = {scores[0] + scores[1] + 10}? No wait, {scores[0]} + {scores[1]} = {scores[0] + scores[1]}."
    if lang == "en":
        q = f"Questions? Call 555-1234. A student scored {listed} on four tests. What is the average score?"
        rsn = (
            f"I need the sum first. Start pairwise: {slip}\n\n"
            f"Full sum: {adds} = {said_total}.\n\n"
            f"Average = {said_total} ÷ {len(scores)} = {num(mean)}.\n\n"
            f"So the answer is {num(mean)}."
        )
        ans = f"The average score is **{num(shown)}**."
    else:
        q = f"咨询电话555-1234。某学生四次考试成绩为{listed}。平均分是多少？"
        rsn = (
            f"先求总分。先两两相加：{slip}\n\n"
            f"总分：{adds} = {said_total}。\n\n"
            f"平均分 = {said_total} ÷ {len(scores)} = {num(mean)}。\n\n"
            f"所以答案是{num(mean)}分。"
        )
        ans = f"平均分是**{num(shown)}**分。"
    return {"question": q, "reasoning": rsn, "answer": ans}


AVERAGE = [(85, 92, 78, 96), (70, 88, 91, 75), (60, 73, 89, 94), (99, 81, 77, 85)]


# ---------------------------------------------------------------------------------------------
# Hand-written traces: traps and subtle errors that the families above do not produce


def hard(id_: str, label: str, kind: str, question: str, reasoning: str, answer: str, **extra: str) -> dict[str, str]:
    return {
        "id": f"hard-{id_}",
        "question": question,
        "reasoning": reasoning,
        "answer": answer,
        "label": label,
        "kind": kind,
        **extra,
    }


HARD = [
    hard(
        "self-corrected",
        "correct",
        "none",
        "What is 12 × 15 + 20?",
        "12 × 15 = 170. Hmm, that's not right: 12 × 15 = 180. Then 180 + 20 = 200.\n\nSo the answer is 200.",
        "**200**",
    ),
    hard(
        "rounded-third",
        "correct",
        "none",
        "A third of 90 litres, to the nearest litre?",
        "1/3 ≈ 0.333, and 0.333 × 90 = 29.97 ≈ 30. Alternatively 90 ÷ 3 = 30 exactly.\n\nSo the answer is 30 litres.",
        "30 litres",
    ),
    hard(
        "clock-span",
        "correct",
        "none",
        "A meeting runs from 9:45 to 11:15. How long is it in hours?",
        "From 9:45 to 10:45 is 1 hour, from 10:45 to 11:15 is 30 minutes. 1 + 0.5 = 1.5.\n\nSo the answer is 1.5 hours.",
        "The meeting lasts **1.5 hours** (9:45–11:15).",
    ),
    hard(
        "choice",
        "correct",
        "none",
        "Which is 15% of 80? (A) 10 (B) 12 (C) 14",
        "15% of 80 = 0.15 × 80 = 12. That's option B.\n\nSo the answer is 12.",
        "(B) 12",
    ),
    hard(
        "words",
        "correct",
        "none",
        "How many legs do 23 chickens have?",
        "Each chicken has 2 legs, 23 × 2 = 46.\n\nSo the answer is 46.",
        "Forty-six legs.",
    ),
    hard(
        "running",
        "correct",
        "none",
        "Add 3 boxes of 4 and 5 loose apples.",
        "3 × 4 = 12 + 5 = 17 apples in total.\n\nSo the answer is 17.",
        "17 apples",
    ),
    hard(
        "up-down",
        "correct",
        "none",
        "A price of 100 rises 20% then falls 20%. Final price?",
        "100 × 1.2 = 120, then 120 × 0.8 = 96. Wait, shouldn't it return to 100? No: the 20% fall is taken from 120, so it's 24, and 120 - 24 = 96.\n\nSo the answer is 96.",
        "The final price is **96**.",
    ),
    hard(
        "negative",
        "correct",
        "none",
        "The temperature is 5 °C and drops 8 degrees. Then it triples its distance below zero. What is it?",
        "5 - 8 = -3. Tripling gives -3 × 3 = -9.\n\nSo the answer is -9 °C.",
        "-9 °C",
    ),
    hard(
        "power",
        "correct",
        "none",
        "How many subsets does a 10-element set have?",
        "Each element is in or out: 2^10 = 1,024.\n\nSo the answer is 1,024.",
        "\\boxed{1024}",
    ),
    hard(
        "leap-day",
        "correct",
        "none",
        "What date is 2 days after 2024-02-28?",
        "2024 is a leap year (2024 ÷ 4 = 506), so February has 29 days. 2024-02-28 + 1 day = 2024-02-29, + 2 days = 2024-03-01.\n\nSo the answer is 2024-03-01.",
        "2024-03-01",
    ),
    hard(
        "hotline",
        "correct",
        "none",
        "Call 400-820-8820 for tickets. Tickets are 45 yuan; how much do 6 cost?",
        "The hotline 400-820-8820 is irrelevant. 45 × 6 = 270.\n\nSo the answer is 270 yuan.",
        "270 yuan",
    ),
    hard(
        "range",
        "correct",
        "none",
        "Each of 3 groups has 5-10 students. How many students in total?",
        "Each group has 5-10 students, so 3 × 5-10 = 15-30 students in total.\n\nSo the answer is 15-30.",
        "Between 15 and 30 students.",
    ),
    hard(
        "zh-approx",
        "correct",
        "none",
        "圆的半径是10厘米，面积约是多少？",
        "面积 = π × 10² ≈ 3.14 × 100 = 314 平方厘米。\n\n所以答案是314平方厘米。",
        "约**314平方厘米**。",
    ),
    hard(
        "only-asked",
        "correct",
        "none",
        "35 heads, 94 legs of chickens and rabbits. How many rabbits?",
        "Let x be the number of chickens and y the number of rabbits. x + y = 35, 2x + 4y = 94. So 2y = 94 - 70 = 24, y = 12, x = 23.\n\nSo there are 23 chickens and 12 rabbits.",
        "There are **12 rabbits**.",
    ),
    hard(
        "percent-form",
        "correct",
        "none",
        "What fraction of 80 is 20, as a percentage?",
        "20 ÷ 80 = 0.25.\n\nSo the answer is 0.25.",
        "25%",
    ),
    hard(
        "unit-change",
        "correct",
        "none",
        "A 150 km trip at 60 km/h takes how long?",
        "150 ÷ 60 = 2.5.\n\nSo the answer is 2.5 hours.",
        "2 hours 30 minutes",
    ),
    hard(
        "ratio-check",
        "correct",
        "none",
        "Split 70 in the ratio 4:3.",
        "4 + 3 = 7 parts, 70 ÷ 7 = 10 each, so 40 and 30. Check: 40:30 = 4:3.\n\nSo the answer is 40 and 30.",
        "40 and 30",
    ),
    hard(
        "latex",
        "correct",
        "none",
        "What is three quarters of 120?",
        "\\( \\frac{3}{4} \\times 120 = 90 \\).\n\nSo the answer is 90.",
        "\\( \\boxed{90} \\)",
    ),
    hard("zh-fullwidth", "correct", "none", "１５×４等于多少？", "１５×４＝６０。\n\n所以答案是６０。", "６０"),
    # Errors
    hard(
        "verify-slip",
        "error",
        "arithmetic",
        "35 heads, 94 legs: chickens and rabbits?",
        "Suppose all 35 are chickens: 35 × 2 = 70 legs. Extra: 94 - 70 = 24, so 24 ÷ 2 = 12 rabbits, 23 chickens. Verify: 23 × 2 = 46, 12 × 4 = 48, 46 + 48 = 96. Matches.\n\nSo there are 23 chickens and 12 rabbits.",
        "23 chickens and 12 rabbits",
    ),
    hard(
        "latex-slip",
        "error",
        "arithmetic",
        "What is three quarters of 120?",
        "\\( \\frac{3}{4} \\times 120 = 80 \\).\n\nSo the answer is 80.",
        "\\( \\boxed{80} \\)",
    ),
    hard(
        "zh-fullwidth-slip", "error", "arithmetic", "１５×４等于多少？", "１５×４＝５０。\n\n所以答案是５０。", "５０"
    ),
    hard("percent-slip", "error", "arithmetic", "What is 15% of 80?", "15% of 80 = 14.\n\nSo the answer is 14.", "14"),
    hard(
        "power-slip",
        "error",
        "arithmetic",
        "What is 3 to the fourth power?",
        "3^4 = 3 × 3 × 3 × 3 = 64.\n\nSo the answer is 64.",
        "64",
    ),
    hard(
        "decimal-slip",
        "error",
        "arithmetic",
        "7 litres shared by 4 people?",
        "7 ÷ 4 = 1.65 litres each.\n\nSo the answer is 1.65 litres.",
        "1.65 litres each",
    ),
    hard(
        "running-slip",
        "error",
        "arithmetic",
        "Add 25, 17, 8 and 9.",
        "25 + 17 = 42 + 8 = 50 + 9 = 58.\n\nSo the answer is 58.",
        "58",
    ),
    hard(
        "in-words",
        "error",
        "arithmetic",
        "What is twelve times seven?",
        "Twelve times seven is eighty-two.\n\nSo the answer is eighty-two.",
        "Eighty-two.",
    ),
    hard(
        "form-disagrees",
        "error",
        "agreement",
        "What fraction of 80 is 60?",
        "60 ÷ 80 = 3/4.\n\nSo the answer is 3/4.",
        "0.6",
    ),
    hard(
        "off-by-one",
        "error",
        "agreement",
        "How many fence posts for 16 m with a post every 1 m?",
        "16 gaps need 16 + 1 = 17 posts.\n\nSo the answer is 17.",
        "\\boxed{18}",
    ),
    hard(
        "long-answer",
        "error",
        "agreement",
        "What is 6 × 7?",
        "6 × 7 = 42.\n\nSo the answer is 42.",
        "We multiply six by seven: 6 × 7 = 42.\n\nChecking by addition gives the same.\n\n**Final answer: 41**",
    ),
    hard(
        "zh-named",
        "error",
        "equation",
        "鸡兔同笼，35个头，94只脚，鸡兔各几只？",
        "设鸡有x只，兔有y只。x + y = 35，2x + 4y = 94。解得鸡23只，兔13只。\n\n所以鸡23只，兔13只。",
        "23只鸡和13只兔。",
    ),
    hard(
        "cut-reasoning",
        "error",
        "completeness",
        "What is 6 × 7?",
        "Let me think. 6 × 7 is",
        "",
        finish_reason="length",
        reasoning_end="length",
    ),
]


FAMILIES: list[tuple[str, Family, list[tuple], tuple[str, ...]]] = [
    ("cage", cage, CAGE, ("arithmetic", "equation", "agreement")),
    ("shop", shop, SHOP, ("arithmetic", "agreement")),
    ("travel", travel, TRAVEL, ("arithmetic", "agreement")),
    ("growth", growth, GROWTH, ("arithmetic", "agreement")),
    ("pages", pages, PAGES, ("arithmetic", "agreement")),
    ("ratio", ratio, RATIO, ("arithmetic", "agreement")),
    ("two", two_numbers, TWO, ("equation", "agreement")),
    ("ages", ages, AGES, ("equation", "agreement")),
    ("average", average, AVERAGE, ("arithmetic", "agreement")),
]


# ---------------------------------------------------------------------------------------------
# Completeness: broken versions of correct traces


def no_answer(t: Trace) -> Trace:
    cut = t["reasoning"][: len(t["reasoning"]) * 2 // 3]
    return {**t, "reasoning": cut, "answer": "", "finish_reason": "length", "reasoning_end": "length"}


def answer_cut(t: Trace) -> Trace:
    ans = t["answer"][: max(len(t["answer"]) // 2, 3)]
    return {**t, "answer": ans, "finish_reason": "length", "reasoning_end": "model"}


def answer_loop(t: Trace) -> Trace:
    first = t["answer"].split("\n")[0]
    return {**t, "answer": (first + " ") * 6, "finish_reason": "length", "reasoning_end": "model"}


def silent(t: Trace) -> Trace:
    return {**t, "answer": "", "finish_reason": "stop", "reasoning_end": "model"}


BREAKS = [no_answer, answer_cut, answer_loop, silent]


def traces() -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    breaks = 0
    for name, family, params, kinds in FAMILIES:
        for lang in ("en", "zh"):
            for i, p in enumerate(params):
                rows.append(
                    {"id": f"{name}-{lang}-{i}-ok", **family(p, lang, None), "label": "correct", "kind": "none"}
                )
            for j, kind in enumerate(kinds):
                for i in range(2 if kind == "equation" else 1):
                    p = params[(i + j + (lang == "zh")) % len(params)]
                    if family is cage and kind == "equation" and p[2] != "algebra":
                        p = CAGE[0 if lang == "en" else 2]
                    if family is cage and kind == "arithmetic" and p[2] != "shortcut":
                        p = CAGE[1 if lang == "en" else 3]
                    rows.append(
                        {"id": f"{name}-{lang}-{kind}-{i}", **family(p, lang, kind), "label": "error", "kind": kind}
                    )
            broken = BREAKS[breaks % len(BREAKS)](family(params[-1], lang, None))
            breaks += 1
            rows.append({"id": f"{name}-{lang}-completeness", **broken, "label": "error", "kind": "completeness"})
    return rows + HARD


def main() -> None:
    rows = traces()
    OUT.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    labels = {label: sum(r["label"] == label for r in rows) for label in ("correct", "error")}
    print(f"wrote {len(rows)} traces to {OUT} ({labels['correct']} correct, {labels['error']} with errors)")


if __name__ == "__main__":
    main()
