"""Write eval/ladder.jsonl: 128 questions in four rungs of difficulty, half English, half Chinese.

1. one-step arithmetic       "What is 7 + 5?"                      "7 + 5 等于多少？"
2. two-step arithmetic       "What is 3 + 4 × 2?"                  "(9 − 4) × 3 等于多少？"
3. one-equation word problem "Sam had some marbles. After he got 6 more he had 15…"
4. multi-step word problem   change, chickens and rabbits, sums and differences, discounts,
                             fractions of a rope, comparisons (choice) and yes/no

The lower rungs use small numbers so that even the embedded 135M model answers some of them:
a ladder on which every mode scores 0% cannot show what `samples` or `revise` do.

Every gold value is computed here from the question's parameters with exact fractions, never
typed by hand. Questions are written in the order rung 1 en, rung 1 zh, rung 2 en, … and then
the next question of each, so `thinkstream eval --limit 8` gets every rung in both languages.

Deterministic: `.venv/bin/python eval/make_ladder.py` always writes the same file.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

OUT = Path(__file__).parent / "ladder.jsonl"
PER_RUNG_AND_LANG = 16
SEED = 20240612
RUNGS = ("1-one-step", "2-two-step", "3-one-equation", "4-multi-step")

Question = dict[str, object]


def gold(value: Fraction | int) -> str:
    value = Fraction(value)
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def numbers(value: Fraction | int) -> list[str]:
    return [gold(value)]


# ---------------------------------------------------------------------------------------------
# Rung 1: one operation on small numbers


def one_step(rng: random.Random, lang: str, i: int) -> Question:
    op = "+-×÷"[i % 4]
    if op == "+":
        a, b = rng.randint(2, 20), rng.randint(2, 20)
        result = Fraction(a + b)
    elif op == "-":
        a = rng.randint(10, 30)
        b = rng.randint(2, a - 1)
        result = Fraction(a - b)
    elif op == "×":
        a, b = rng.randint(2, 9), rng.randint(2, 9)
        result = Fraction(a * b)
    else:
        b, q = rng.randint(2, 9), rng.randint(2, 9)
        a = b * q
        result = Fraction(q)
    text = f"What is {a} {op} {b}?" if lang == "en" else f"{a} {op} {b} 等于多少？"
    return {"question": text, "gold": numbers(result)}


# ---------------------------------------------------------------------------------------------
# Rung 2: two operations, precedence or brackets


def two_step(rng: random.Random, lang: str, i: int) -> Question:
    a, b, c = rng.randint(2, 9), rng.randint(2, 9), rng.randint(2, 9)
    form = i % 4
    if form == 0:
        expr, result = f"{a} + {b} × {c}", Fraction(a + b * c)
    elif form == 1:
        expr, result = f"({a} + {b}) × {c}", Fraction((a + b) * c)
    elif form == 2:
        big = a + b + rng.randint(5, 20)
        expr, result = f"{big} - {a} - {b}", Fraction(big - a - b)
    else:
        expr, result = f"{a * b} ÷ {b} + {c}", Fraction(a + c)
    text = f"What is {expr}?" if lang == "en" else f"计算：{expr} 等于多少？"
    return {"question": text, "gold": numbers(result)}


# ---------------------------------------------------------------------------------------------
# Rung 3: one unknown, one equation


def one_equation(rng: random.Random, lang: str, i: int) -> Question:
    form = i % 4
    if form == 0:
        start, more = rng.randint(3, 15), rng.randint(2, 9)
        end = start + more
        if lang == "en":
            text = (
                f"Sam had some marbles. After he got {more} more, he had {end}. How many marbles did Sam have at first?"
            )
        else:
            text = f"小明有一些弹珠，又得到了{more}颗后，一共有{end}颗。小明原来有多少颗弹珠？"
        return {"question": text, "gold": numbers(start)}
    if form == 1:
        each, count = rng.randint(2, 9), rng.randint(2, 6)
        total = each * count
        if lang == "en":
            text = f"{count} pencils cost {total} dollars in all. How many dollars does one pencil cost?"
        else:
            text = f"{count}支铅笔一共{total}元。一支铅笔多少元？"
        return {"question": text, "gold": numbers(each)}
    if form == 2:
        x, a = rng.randint(2, 9), rng.randint(2, 5)
        b = rng.randint(1, 9)
        c = a * x + b
        text = f"Solve for x: {a}x + {b} = {c}." if lang == "en" else f"解方程：{a}x + {b} = {c}，x 等于多少？"
        return {"question": text, "gold": numbers(x)}
    age, times = rng.randint(4, 12), rng.randint(2, 4)
    if lang == "en":
        text = f"Lily's mother is {times} times as old as Lily. Her mother is {age * times}. How old is Lily?"
    else:
        text = f"妈妈的年龄是小红的{times}倍，妈妈今年{age * times}岁。小红今年几岁？"
    return {"question": text, "gold": numbers(age)}


# ---------------------------------------------------------------------------------------------
# Rung 4: several steps, several values, choices and yes/no


def multi_step(rng: random.Random, lang: str, i: int) -> Question:
    form = i % 8
    if form == 0:
        count, price = rng.randint(2, 6), rng.randint(2, 9)
        paid = 10 * ((count * price) // 10 + 1)
        if lang == "en":
            text = (
                f"Tom buys {count} pens at {price} dollars each and pays with {paid} dollars."
                " How much change does he get?"
            )
        else:
            text = f"小华买了{count}支笔，每支{price}元，付了{paid}元。应找回多少元？"
        return {"question": text, "gold": numbers(paid - count * price)}
    if form == 1:
        chickens, rabbits = rng.randint(3, 15), rng.randint(2, 10)
        heads, legs = chickens + rabbits, 2 * chickens + 4 * rabbits
        if lang == "en":
            text = (
                f"A farm has chickens and rabbits, {heads} heads and {legs} legs in all."
                " How many chickens and how many rabbits are there?"
            )
        else:
            text = f"鸡兔同笼，共有{heads}个头，{legs}只脚。鸡和兔各有多少只？"
        return {"question": text, "gold": [gold(chickens), gold(rabbits)], "note": "chickens, rabbits"}
    if form == 2:
        small, diff = rng.randint(5, 30), rng.randint(2, 12)
        big = small + diff
        if lang == "en":
            text = f"Two numbers add up to {big + small} and their difference is {diff}. What are the two numbers?"
        else:
            text = f"甲、乙两数的和是{big + small}，甲比乙大{diff}。甲、乙两数各是多少？"
        row: Question = {"question": text, "gold": [gold(big), gold(small)], "note": "larger, smaller"}
        return {**row, "unordered": True} if lang == "en" else row
    if form == 3:
        start, sold_am, sold_pm, delivered = rng.randint(30, 60), rng.randint(5, 12), rng.randint(5, 12), 10
        left = start - sold_am - sold_pm + delivered
        if lang == "en":
            text = (
                f"A shop had {start} apples. It sold {sold_am} in the morning and {sold_pm} in the afternoon,"
                f" then received {delivered} more. How many apples does it have now?"
            )
        else:
            text = (
                f"水果店有{start}个苹果，上午卖出{sold_am}个，下午卖出{sold_pm}个，"
                f"又运来{delivered}个。现在有多少个苹果？"
            )
        return {"question": text, "gold": numbers(left)}
    if form == 4:
        price, off = 10 * rng.randint(2, 9), rng.choice([10, 20, 25, 50])
        sale = Fraction(price) * (100 - off) / 100
        if lang == "en":
            text = f"A shirt costs {price} dollars. It is sold at {off}% off. What is the sale price in dollars?"
        else:
            text = f"一件衬衫原价{price}元，打折后便宜了{off}%。现价是多少元？"
        return {"question": text, "gold": numbers(sale)}
    if form == 5:
        length = 3 * rng.randint(2, 8)
        if lang == "en":
            text = f"A rope is {length} metres long. One third of it is cut off. How many metres are left?"
        else:
            text = f"一根绳子长{length}米，剪去它的三分之一，还剩多少米？"
        return {"question": text, "gold": numbers(Fraction(length) * 2 / 3)}
    if form == 6:
        bags_a, per_a = rng.randint(2, 5), rng.randint(6, 12)
        bags_b, per_b = rng.randint(2, 5), rng.randint(6, 12)
        while bags_a * per_a == bags_b * per_b:
            per_b += 1
        if lang == "en":
            names = ["Anna", "Ben"]
            text = (
                f"Anna has {bags_a} bags of {per_a} apples. Ben has {bags_b} bags of {per_b} apples."
                " Who has more apples, Anna or Ben?"
            )
        else:
            names = ["甲", "乙"]
            text = f"甲有{bags_a}袋苹果，每袋{per_a}个；乙有{bags_b}袋苹果，每袋{per_b}个。甲和乙谁的苹果多？"
        winner = names[0] if bags_a * per_a > bags_b * per_b else names[1]
        return {"question": text, "gold": [winner], "choices": names}
    a, b, limit = rng.randint(3, 9), rng.randint(3, 9), rng.randint(20, 60)
    answer = "yes" if a * b > limit else "no"
    if lang == "en":
        text = f"A box holds {a} rows of {b} eggs. Are there more than {limit} eggs in the box? Answer yes or no."
    else:
        text = f"一个盒子里有{a}排鸡蛋，每排{b}个。盒子里的鸡蛋多于{limit}个吗？请回答“是”或“否”。"
    return {"question": text, "gold": [answer]}


MAKERS: dict[str, Callable[[random.Random, str, int], Question]] = dict(
    zip(RUNGS, (one_step, two_step, one_equation, multi_step), strict=True)
)


def ladder() -> list[Question]:
    rng = random.Random(SEED)
    out = []
    for i in range(PER_RUNG_AND_LANG):
        for rung, make in MAKERS.items():
            for lang in ("en", "zh"):
                question = make(rng, lang, i)
                out.append({"id": f"r{rung[0]}-{lang}-{i:02d}", "lang": lang, "rung": rung, **question})
    return out


def main() -> None:
    rows = ladder()
    OUT.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    print(f"wrote {len(rows)} questions to {OUT}")


if __name__ == "__main__":
    main()
