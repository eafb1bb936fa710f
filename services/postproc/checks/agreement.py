"""Agreement: the values the answer gives are the ones the reasoning concluded.

The reasoning's conclusion is its last `\\boxed{…}`, else its last "the answer is …", else its last
"so …" near the end. Only values stated there count, not results computed on the way, and a value
the question itself gives is never demanded of the answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sympy

from services.postproc.checks.base import Check, CheckResult, Trace
from services.postproc.checks.numbers import NUMBER, Normalized, decimals, find_chains, literal_value, normalize
from shared.schemas import Span

# A weak "so …" conclusion counts only in the last part of the reasoning.
WEAK_TAIL_FRACTION = 0.3
# The most values an answer may carry and still be read whole when it has no marker.
MAX_UNMARKED_VALUES = 6

_BOXED = re.compile(r"\\boxed\{((?:[^{}]|\{[^{}]*\})*)\}")
_STRONG = re.compile(
    r"(?:final\s+answer|the\s+answer|answer)\s*(?:is|should\s+be|would\s+be|will\s+be|must\s+be)\b"
    r"|final\s+answer\s*[:=]|\banswer\s*:|(?:最终答案|答案)\s*(?:是|为|应该是|应为|[:：])",
    re.IGNORECASE,
)
_WEAK = re.compile(r"\b(?:so|therefore|thus|hence|in total|altogether)\b|所以|因此|故|综上|总共|一共|共有", re.I)
_END = re.compile(r"[。！？!?\n；;]|\.(?!\d)")
_ITEM = re.compile(
    r"(?P<opaque>\d{1,2}:\d{2}(?::\d{2})?|\d{4}-\d{1,2}-\d{1,2}|\d+:\d+)"
    r"|(?P<frac>(?<![\w)])-?\d+/\d+)(?!\d|\.\d)"
    rf"|(?P<num>(?:(?<![\w)])-)?(?:{NUMBER}))(?P<pct>%)?"
)
_JOINED = re.compile(r"\band\b|[,，、;；和及与]", re.I)
_NOT_JOINED = re.compile(r"\b(?:because|since|for|of|per|each|from|by|in|at|times|out)\b|因为|由于|每|乘|除|比", re.I)
_MAX_GAP_CHARS = 20


@dataclass(frozen=True)
class Item:
    """A value as written: a number, a percentage, a fraction, or an opaque time/date/ratio."""

    raw: str
    value: sympy.Rational | None
    unit: sympy.Rational
    start: int
    end: int
    computed: bool = False
    """The result of a computation written just before it (`23 × 2 = 46`)."""

    def same(self, other: Item) -> bool:
        if self.value is None or other.value is None:
            return self.raw == other.raw
        if self.value == other.value or self.raw.rstrip("%") == other.raw.rstrip("%"):
            return True
        coarse, fine = (self, other) if self.unit > other.unit else (other, self)
        return fine.unit < coarse.unit and abs(fine.value - coarse.value) < coarse.unit


def items(norm: Normalized) -> list[Item]:
    """Every value in the text except the inside of stated computations: for `23 × 2 = 46` only 46."""
    text = norm.text
    hidden: list[tuple[int, int]] = []
    results: set[int] = set()
    for chain in find_chains(text):
        last = chain.elements[-1]
        hidden.extend((e.start, e.end) for e in chain.elements[:-1])
        if not last.literal or last.symbols:
            hidden.append((last.start, last.end))
        elif any(not e.literal and not e.symbols for e in chain.elements[:-1]):
            results.add(last.start)
    found = []
    for m in _ITEM.finditer(text):
        if any(start <= m.start() < end for start, end in hidden):
            continue
        found.append(_item(m, m.start() in results or m.start() + 1 in results))
    return found


def _item(m: re.Match[str], computed: bool) -> Item:
    if m["opaque"]:
        return Item(m["opaque"], None, sympy.Integer(1), m.start(), m.end(), computed)
    if m["frac"]:
        top, bottom = m["frac"].split("/")
        if int(bottom) == 0:
            return Item(m["frac"], None, sympy.Integer(1), m.start(), m.end(), computed)
        return Item(m["frac"], sympy.Rational(int(top), int(bottom)), sympy.Integer(0), m.start(), m.end(), computed)
    digits = m["num"]
    value = literal_value(digits)
    unit = sympy.Rational(1, 10 ** decimals(digits))
    if m["pct"]:
        value, unit = value / 100, unit / 100
    return Item(digits.replace(",", "") + (m["pct"] or ""), value, unit, m.start(), m.end(), computed)


def _segment_end(text: str, start: int) -> int:
    m = _END.search(text, start)
    return m.start() if m else len(text)


def _stated(found: list[Item], start: int, end: int, text: str) -> list[Item]:
    """The first value after a marker, plus any joined to it by "and" or a comma."""
    inside = [i for i in found if start <= i.start < end]
    if not inside:
        return []
    stated = [inside[0]]
    for item in inside[1:]:
        gap = text[stated[-1].end : item.start]
        if len(gap) > _MAX_GAP_CHARS or not _JOINED.search(gap) or _NOT_JOINED.search(gap):
            break
        stated.append(item)
    return stated


def _boxed(norm: Normalized, found: list[Item]) -> list[Item]:
    boxes = list(_BOXED.finditer(norm.text))
    if not boxes:
        return []
    box = boxes[-1]
    return [i for i in found if box.start(1) <= i.start < box.end(1)]


def conclusion(norm: Normalized) -> list[Item]:
    """What the reasoning concluded, or [] when it never says."""
    text, found = norm.text, items(norm)
    if boxed := _boxed(norm, found):
        return boxed
    for m in reversed(list(_STRONG.finditer(text))):
        if stated := _stated(found, m.end(), _segment_end(text, m.end()), text):
            return stated
    tail = len(text) * (1 - WEAK_TAIL_FRACTION)
    for m in reversed(list(_WEAK.finditer(text))):
        if m.start() < tail:
            break
        stated = _stated(found, m.end(), _segment_end(text, m.end()), text)
        if stated and not any(i.computed for i in stated):
            return stated
    return []


def final_values(norm: Normalized) -> list[Item]:
    """What the answer gives: its box, else what follows "the answer is", else all its values
    when there are few enough to read them all."""
    text, found = norm.text, items(norm)
    if boxed := _boxed(norm, found):
        return boxed
    for m in reversed(list(_STRONG.finditer(text))):
        if stated := _stated(found, m.end(), _segment_end(text, m.end()), text):
            return stated
    return found if len(found) <= MAX_UNMARKED_VALUES else []


class Agreement(Check):
    name = "agreement"

    def run(self, trace: Trace) -> CheckResult:
        if not trace.reasoning.strip() or not trace.answer.strip():
            return CheckResult()
        answer_norm = normalize(trace.answer)
        given = items(normalize(trace.question))
        concluded = conclusion(normalize(trace.reasoning))
        new = [r for r in concluded if not any(r.same(g) for g in given)]
        concluded = new or concluded  # "with 35 heads and 94 legs, 23 chickens…": 35 and 94 are givens
        answered = final_values(answer_norm)
        if not concluded or not answered:
            return CheckResult()
        missing = [r for r in concluded if not any(r.same(a) for a in answered)]
        extra = [a for a in answered if not any(a.same(r) for r in concluded) and not any(a.same(g) for g in given)]
        if not missing:
            return CheckResult(verified=len(concluded))
        if not extra:
            return CheckResult()  # the answer leaves something out but contradicts nothing
        start, _ = answer_norm.span(extra[0].start, extra[0].end)
        _, end = answer_norm.span(extra[-1].start, extra[-1].end)
        said = " ".join(trace.answer[start:end].split())
        message = f"The answer says {said} but the reasoning concluded {', '.join(r.raw for r in concluded)}"
        return CheckResult([self.finding("error", message, Span(field="answer", start=start, end=end))])
