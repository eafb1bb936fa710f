"""Write eval/fresh3_questions.jsonl: the third fresh held-out set, where the embedded model
earns passes (96 questions, half English, half Chinese).

Why it exists: on the second fresh set (word problems) the embedded SmolLM2-135M was right 3
times in 512 and no answer got `pass`, so "of the answers that pass, how many are right" could
not be measured there. The issue's own finding came from one-step arithmetic, where this model
is right often enough to pass: 28 passes, 10 right. These are such questions, in phrasings that
are neither the ladder's (`What is 17 + 9?`, `(5 + 2) × 6`) nor the fresh sets': bare sums to
compute, differences and products said in words, halves and doubles, "how many more", short
chains of two operations, in English and in Chinese (with Arabic digits and with Chinese
numerals). Written on 2026-11-30 with the checks frozen (services/postproc unchanged since
9c69eb8) and before any of its traces existed.

Each gold value is computed here from the operands, never typed. Operands come from a seeded
random generator, so the file is always the same (`.venv/bin/python eval/make_fresh3.py`).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

OUT = Path(__file__).parent / "fresh3_questions.jsonl"
SEED = 20261130

Row = dict[str, object]
Maker = Callable[[random.Random], tuple[str, int]]

CN_DIGITS = "零一二三四五六七八九"


def chinese(n: int) -> str:
    """A number below 1000 in Chinese numerals (三十七, 一百零五, 二百四十)."""
    if n < 10:
        return CN_DIGITS[n]
    if n < 20:
        return "十" + (CN_DIGITS[n % 10] if n % 10 else "")
    if n < 100:
        return CN_DIGITS[n // 10] + "十" + (CN_DIGITS[n % 10] if n % 10 else "")
    hundreds, rest = divmod(n, 100)
    if rest == 0:
        return CN_DIGITS[hundreds] + "百"
    if rest < 10:
        return CN_DIGITS[hundreds] + "百零" + CN_DIGITS[rest]
    tail = chinese(rest) if rest >= 20 else "一" + chinese(rest)
    return CN_DIGITS[hundreds] + "百" + tail


def _pair(rng: random.Random, low: int, high: int) -> tuple[int, int]:
    return rng.randint(low, high), rng.randint(low, high)


EN: list[tuple[str, Maker]] = [
    ("sum", lambda r: (lambda a, b: (f"Add {a} and {b}.", a + b))(*_pair(r, 12, 89))),
    ("sum", lambda r: (lambda a, b: (f"Compute {a} plus {b}.", a + b))(*_pair(r, 101, 480))),
    ("difference", lambda r: (lambda a, b: (f"Subtract {b} from {a}.", a - b))(r.randint(50, 99), r.randint(11, 49))),
    (
        "difference",
        lambda r: (lambda a, b: (f"How much is {a} minus {b}?", a - b))(r.randint(200, 900), r.randint(20, 190)),
    ),
    ("product", lambda r: (lambda a, b: (f"Multiply {a} by {b}.", a * b))(r.randint(3, 9), r.randint(12, 40))),
    ("product", lambda r: (lambda a, b: (f"What do you get if you take {a} times {b}?", a * b))(*_pair(r, 6, 15))),
    (
        "quotient",
        lambda r: (lambda a, b: (f"Divide {a * b} by {a}.", b))(r.randint(3, 9), r.randint(6, 25)),
    ),
    ("double", lambda r: (lambda a: (f"What is double {a}?", 2 * a))(r.randint(13, 160))),
    ("half", lambda r: (lambda a: (f"What is half of {2 * a}?", a))(r.randint(11, 120))),
    (
        "more",
        lambda r: (lambda a, b: (f"Tom has {a} stamps and Ana has {a + b}. How many more stamps does Ana have?", b))(
            r.randint(10, 60), r.randint(3, 30)
        ),
    ),
    (
        "chain",
        lambda r: (lambda a, b, c: (f"Start with {a}, add {b}, then subtract {c}. What number do you get?", a + b - c))(
            r.randint(20, 60), r.randint(5, 40), r.randint(3, 19)
        ),
    ),
    (
        "chain",
        lambda r: (lambda a, b, c: (f"Multiply {a} by {b} and then add {c}. What is the result?", a * b + c))(
            r.randint(2, 9), r.randint(3, 12), r.randint(1, 30)
        ),
    ),
]

ZH: list[tuple[str, Maker]] = [
    ("sum", lambda r: (lambda a, b: (f"计算：{a}加{b}等于多少？", a + b))(*_pair(r, 12, 89))),
    ("sum", lambda r: (lambda a, b: (f"{chinese(a)}加{chinese(b)}是多少？", a + b))(*_pair(r, 11, 99))),
    ("difference", lambda r: (lambda a, b: (f"{a}减去{b}得多少？", a - b))(r.randint(50, 99), r.randint(11, 49))),
    (
        "difference",
        lambda r: (lambda a, b: (f"{chinese(a)}减{chinese(b)}等于几？", a - b))(r.randint(60, 99), r.randint(10, 59)),
    ),
    ("product", lambda r: (lambda a, b: (f"{a}乘以{b}等于多少？", a * b))(r.randint(3, 9), r.randint(12, 40))),
    ("product", lambda r: (lambda a, b: (f"{chinese(a)}乘{chinese(b)}得几？", a * b))(*_pair(r, 3, 9))),
    ("quotient", lambda r: (lambda a, b: (f"{a * b}除以{a}等于多少？", b))(r.randint(3, 9), r.randint(6, 25))),
    ("double", lambda r: (lambda a: (f"{a}的两倍是多少？", 2 * a))(r.randint(13, 160))),
    ("half", lambda r: (lambda a: (f"{2 * a}的一半是多少？", a))(r.randint(11, 120))),
    (
        "more",
        lambda r: (lambda a, b: (f"小明有{a}张邮票，小红有{a + b}张。小红比小明多几张？", b))(
            r.randint(10, 60), r.randint(3, 30)
        ),
    ),
    (
        "chain",
        lambda r: (lambda a, b, c: (f"从{a}开始，先加{b}，再减{c}，结果是多少？", a + b - c))(
            r.randint(20, 60), r.randint(5, 40), r.randint(3, 19)
        ),
    ),
    (
        "chain",
        lambda r: (lambda a, b, c: (f"{a}乘{b}再加{c}，得多少？", a * b + c))(
            r.randint(2, 9), r.randint(3, 12), r.randint(1, 30)
        ),
    ),
]

PER_KIND = 4
"""Questions per phrasing and language: 12 phrasings x 4 x 2 languages = 96."""


def fresh3() -> list[Row]:
    rng = random.Random(SEED)
    rows: list[Row] = []
    for lang, table in (("en", EN), ("zh", ZH)):
        index = 0
        for kind, make in table:
            for _ in range(PER_KIND):
                question, value = make(rng)
                while any(row["question"] == question for row in rows):
                    question, value = make(rng)
                rows.append(
                    {
                        "id": f"h-{lang}-{index:02d}",
                        "lang": lang,
                        "rung": kind,
                        "question": question,
                        "gold": [str(value)],
                    }
                )
                index += 1
    return rows


def main() -> None:
    rows = fresh3()
    OUT.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    print(f"wrote {len(rows)} questions to {OUT}")


if __name__ == "__main__":
    main()
