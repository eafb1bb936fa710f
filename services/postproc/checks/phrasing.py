"""The question's own computation when it is written in words: "multiply 9 by 8", "subtract 19
from 64", "5 more than 12", "the sum of 123 and 77", "half of 86", "13 squared", 6和15的积,
100比250少多少, 86的一半, 2的6次方, 12除144.

Operators written as words between two numbers ("15 plus 27", 9乘以8, 64减去19) are already
symbols after `normalize`; these are the phrasings whose operator comes first or around the
numbers. A phrasing counts as the question's computation only when it is the whole question:
it holds every number the question gives, and it is the only one: "Tom has 5 more than 12 cards
and gives 3 away" is a word problem, not "5 more than 12". "greater than" and "smaller than"
compare ("Is 3/4 greater than 0.7?"): not read; a yes/no question is never checked this way.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import sympy

from services.postproc.checks.numbers import literal_value, normalize
from services.postproc.checks.reading import items

_N = r"(?:\d+/\d+|\d+(?:\.\d+)?%?)"
Op = Callable[[sympy.Expr, sympy.Expr], sympy.Expr]


def _add(a: sympy.Expr, b: sympy.Expr) -> sympy.Expr:
    return a + b


def _sub(a: sympy.Expr, b: sympy.Expr) -> sympy.Expr:
    return a - b


def _mul(a: sympy.Expr, b: sympy.Expr) -> sympy.Expr:
    return a * b


def _div(a: sympy.Expr, b: sympy.Expr) -> sympy.Expr:
    return a / b


def _apart(a: sympy.Expr, b: sympy.Expr) -> sympy.Expr:
    return sympy.Abs(a - b)  # "the difference between 3 and 10" is 7 in everyday use


def _pow(a: sympy.Expr, b: sympy.Expr) -> sympy.Expr:
    return a**b


def _one(f: Callable[[sympy.Expr], sympy.Expr]) -> Op:
    return lambda a, _b: f(a)


def _p(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern.replace("A", f"(?P<a>{_N})").replace("B", f"(?P<b>{_N})"), re.I)


# (pattern with A and B for the two numbers, the computation on (A, B))
_PHRASES: list[tuple[re.Pattern[str], Op]] = [
    (_p(r"\bmultiply\s+A\s+(?:by|and|with)\s+B\b"), _mul),
    (_p(r"\bdivide\s+A\s+by\s+B\b"), _div),
    (_p(r"\badd\s+A\s+(?:and|to)\s+B\b"), _add),
    (_p(r"\b(?:subtract|take(?:\s+away)?|deduct)\s+B\s+(?:away\s+)?from\s+A\b"), _sub),
    (_p(r"\bA\s+more\s+than\s+B\b"), lambda a, b: b + a),
    (_p(r"\bA\s+(?:less|fewer)\s+than\s+B\b"), lambda a, b: b - a),
    (_p(r"\b(?:the\s+)?sum\s+of\s+A\s+and\s+B\b"), _add),
    (_p(r"\b(?:the\s+)?product\s+of\s+A\s+and\s+B\b"), _mul),
    (_p(r"\b(?:the\s+)?difference\s+(?:of|between)\s+A\s+and\s+B\b"), _apart),
    (_p(r"\b(?:the\s+)?quotient\s+of\s+A\s+(?:and|by)\s+B\b"), _div),
    (_p(r"\bhalf\s+of\s+A\b"), _one(lambda a: a / 2)),
    (_p(r"\b(?:double|twice)\s+A\b"), _one(lambda a: 2 * a)),
    (_p(r"\b(?:the\s+)?square\s+root\s+of\s+A\b"), _one(sympy.sqrt)),
    (_p(r"\b(?:the\s+)?square\s+of\s+A\b"), _one(lambda a: a**2)),
    (_p(r"\bA\s+squared\b"), _one(lambda a: a**2)),
    (_p(r"\b(?:the\s+)?cube\s+of\s+A\b"), _one(lambda a: a**3)),
    (_p(r"\bA\s+cubed\b"), _one(lambda a: a**3)),
    (_p(r"\bA\s+(?:raised\s+)?to\s+the\s+(?:power\s+of\s+)?B\b"), _pow),
    (
        _p(r"\b(?:write|express|convert)\s+A\s+(?:as|to|into|in)\s+(?:an?\s+)?(?:decimal|percent|fraction)"),
        _one(lambda a: a),
    ),
    # Chinese
    (_p(r"A\s*(?:与|和|跟|同)\s*B\s*的\s*和"), _add),
    (_p(r"A\s*(?:与|和|跟|同)\s*B\s*的\s*(?:乘)?积"), _mul),
    (_p(r"A\s*(?:与|和|跟|同)\s*B\s*的\s*差"), _apart),
    (_p(r"A\s*(?:与|和|跟|同)\s*B\s*的\s*商"), _div),
    (_p(r"A\s*比\s*B\s*(?:多|大)\s*(?:多少|几)"), _sub),
    (_p(r"A\s*比\s*B\s*(?:少|小)\s*(?:多少|几)"), lambda a, b: b - a),
    (_p(r"比\s*A\s*(?:多|大)\s*B\s*的数"), _add),
    (_p(r"比\s*A\s*(?:少|小)\s*B\s*的数"), _sub),
    (_p(r"A\s*的\s*一半"), _one(lambda a: a / 2)),
    (_p(r"A\s*的\s*B\s*倍"), _mul),
    (_p(r"A\s*的\s*平方根"), _one(sympy.sqrt)),
    (_p(r"A\s*的\s*平方(?!根)"), _one(lambda a: a**2)),
    (_p(r"A\s*的\s*立方(?!根)"), _one(lambda a: a**3)),
    (_p(r"A\s*的\s*B\s*次方"), _pow),
    (_p(r"(?<![\d.])B\s*除\s*A"), _div),  # 12除144: 144 divided by 12 (除以 is already /)
    (_p(r"把\s*A\s*(?:写|化|改写|转化)成\s*(?:小数|分数|百分数)"), _one(lambda a: a)),
]


@dataclass(frozen=True)
class Phrased:
    value: sympy.Expr
    start: int
    end: int
    """Where the phrasing is, in the original question."""


def _value(raw: str) -> sympy.Expr:
    if "/" in raw:
        top, bottom = raw.split("/")
        return sympy.Rational(int(top), int(bottom))
    if raw.endswith("%"):
        return literal_value(raw[:-1]) / 100
    return literal_value(raw)


def phrased_expression(question: str) -> Phrased | None:
    """The computation a question asks for in words, when it is the whole question; else None."""
    norm = normalize(question)
    found: dict[tuple[int, int], sympy.Expr] = {}
    for pattern, op in _PHRASES:
        for m in pattern.finditer(norm.text):
            a = _value(m["a"])
            b = _value(m["b"]) if m.groupdict().get("b") else sympy.Integer(0)
            if op is _div and b == 0:
                continue
            found[(m.start(), m.end())] = op(a, b)
    if len(found) != 1:
        return None
    (start, end), value = next(iter(found.items()))
    numbers = [i for i in items(norm) if i.value is not None]
    if not numbers or any(not start <= i.start < end for i in numbers):
        return None  # some number of the question lies outside: a word problem around it
    o_start, o_end = norm.span(start, end)
    return Phrased(value, o_start, o_end)
