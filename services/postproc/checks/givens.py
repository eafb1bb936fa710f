"""The numbers a question gives: what a grounded computation may start from, and which of them
the computation behind a `pass` must use.

Each number the question states counts in each form its writing gives: a percentage as a
fraction and as its parts (25% → 0.25, 25 and 100), a fraction by its written terms (1/3 → 1
and 3; 144/12 → 144 and 12). Nothing else: no constant is assumed.

A number that only names something is a label: a year ("in 2019", 2019年) or an item number
("Question 3", "step 2", "#4", 第3题). A label may ground a step but need not be used; every
other number must be (see `verdict.py`). Ordinals that count ("on day 3", 第3天) are not
labels: a rate problem may need them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sympy

from services.postproc.checks.numbers import normalize
from services.postproc.checks.reading import Item, items

_ITEM_LABEL_BEFORE = re.compile(
    r"(?:\b(?:question|problem|exercise|task|item|step|part|no\.?|number|example|chapter|section)\s*|#\s*)$",
    re.I,
)
_ITEM_LABEL_AFTER_ZH = re.compile(r"^\s*(?:题|小题|问|步)")
_YEAR = re.compile(r"^(?:1\d{3}|20\d{2})$")
_YEAR_BEFORE = re.compile(r"\b(?:in|since|until|by|from|year|of)\s+$", re.I)
_YEAR_AFTER = re.compile(r"^\s*年(?!龄|级|纪)")


@dataclass(frozen=True)
class Given:
    """One number as the question writes it."""

    raw: str
    forms: tuple[sympy.Expr, ...]
    """Its value first, then the other values its writing gives."""
    label: bool = False
    """A year or an item number: may ground a step, need not be used."""


def _forms(item: Item) -> tuple[sympy.Expr, ...]:
    assert item.value is not None
    forms: list[sympy.Expr] = [item.value]
    if item.raw.endswith("%"):
        forms += [item.value * 100, sympy.Integer(100)]
    if "/" in item.raw:
        forms += [sympy.Rational(term) for term in item.raw.lstrip("-").split("/")]
    return tuple(dict.fromkeys(forms))


def _is_label(text: str, item: Item) -> bool:
    before, after = text[max(0, item.start - 20) : item.start], text[item.end : item.end + 4]
    if _ITEM_LABEL_BEFORE.search(before) and "/" not in item.raw:
        return not after.lstrip().startswith(("%", "percent"))
    if _ITEM_LABEL_AFTER_ZH.match(after) and before.endswith("第"):
        return True
    return bool(_YEAR.match(item.raw) and (_YEAR_BEFORE.search(before) or _YEAR_AFTER.match(after)))


def given_numbers(question: str) -> list[Given]:
    """Every number the question states, with its forms and whether it is a label."""
    norm = normalize(question)
    return [Given(item.raw, _forms(item), _is_label(norm.text, item)) for item in items(norm) if item.value is not None]


def givens(question: str) -> list[sympy.Expr]:
    """The numbers a grounded computation may start from, every form of each."""
    return [form for given in given_numbers(question) for form in given.forms]
