"""Arithmetic: every stated computation (`12 × 7 = 84`, `a + b = c + d = e`) is recomputed exactly."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

import sympy

from services.postproc.checks.base import FIELD_ORDER, Check, CheckResult, Derivation, Trace
from services.postproc.checks.numbers import (
    Element,
    Normalized,
    decimals,
    find_chains,
    fmt,
    literal_value,
    normalize,
    retracted,
)
from shared.schemas import Span

# "≈" claims pass within 2% of the exact value, or one unit in the last written place.
APPROX_REL = sympy.Rational(2, 100)


class Outcome(enum.Enum):
    RIGHT = "right"
    ROUNDING = "rounding"
    """Off by no more than the rounding of decimals written inside the computation."""
    WRONG = "wrong"


@dataclass(frozen=True)
class Claim:
    left: Element
    right: Element
    relation: str
    outcome: Outcome

    @property
    def computed(self) -> Element:
        return self.left if self.right.literal else self.right if self.left.literal else self.left


def judge(left: Element, right: Element, relation: str) -> Outcome:
    """Compare two sides exactly, allowing for rounding the writer stated (`10/3 = 3.33`)."""
    diff = sympy.Abs(left.value - right.value)
    if diff == 0 or (not diff.is_Rational and float(sympy.N(diff, 30)) < 1e-12):
        return Outcome.RIGHT
    literal = right if right.literal else left if left.literal else None
    computed = left if literal is right else right
    exact = sympy.Abs(computed.value)
    unit = literal.unit if literal is not None else sympy.Integer(0)
    if relation == "≈":
        return Outcome.RIGHT if diff <= max(unit, exact * APPROX_REL) else Outcome.WRONG
    if literal is not None and not (computed.value / unit).is_integer and diff < unit:
        return Outcome.RIGHT  # the stated value is the exact one rounded or truncated
    bound = _rounding_bound(computed) if literal is not None else _rounding_bound(left) + _rounding_bound(right)
    if bound and diff <= exact * bound * sympy.Rational(101, 100) + unit:
        return Outcome.ROUNDING
    return Outcome.WRONG


def _rounding_bound(element: Element) -> sympy.Rational:
    """Relative error carried in by decimals that look rounded, like 0.33 or 3.14."""
    bound = sympy.Integer(0)
    for token in element.tokens:
        if token.kind == "num" and decimals(token.text) >= 2 and _looks_rounded(token.text):
            bound += sympy.Rational(1, 2 * 10 ** decimals(token.text)) / literal_value(token.text)
    return bound


_CONSTANTS = (sympy.pi, sympy.E, sympy.sqrt(2), sympy.sqrt(3), sympy.sqrt(5))


def _looks_rounded(digits: str) -> bool:
    """0.33 (1/3), 0.67 (2/3), 3.14 (π), 1.41 (√2) are roundings; 0.04, 0.25, 0.15 are exact."""
    value = literal_value(digits)
    half = sympy.Rational(1, 2 * 10 ** decimals(digits))
    near = [sympy.Rational(round(value * q), q) for q in range(3, 13)]
    near += [sympy.Rational(round(float(c) * 10**6), 10**6) for c in _CONSTANTS]
    return value != 0 and any(0 < abs(value - x) < half for x in near)


def _continues(left: Element, right: Element) -> bool:
    """`2 + 3 = 5 × 4 = 20` is a running total: the right side starts from the left's result."""
    first = right.tokens[0]
    return len(right.tokens) > 1 and first.kind == "num" and literal_value(first.text) == left.value


_RANGE = re.compile(r"(?<![\d.])(\d+)-(\d+)(?![\d.])")


def _range(text: str, left: Element, right: Element) -> bool:
    """`3 × 5-10 = 15-30`: a tight a-b with a < b is a range, not a subtraction."""
    written = text[left.start : right.end]
    return any(int(m[1]) < int(m[2]) for m in _RANGE.finditer(written))


def claims_in(norm: Normalized) -> list[Claim]:
    claims = []
    for chain in find_chains(norm.text):
        for i, relation in enumerate(chain.relations):
            left, right = chain.elements[i], chain.elements[i + 1]
            if left.symbols or right.symbols or (left.literal and right.literal):
                continue
            if not (left.value.is_number and right.value.is_number):
                continue
            outcome = judge(left, right, relation)
            if outcome is Outcome.WRONG and (_continues(left, right) or _range(norm.text, left, right)):
                continue
            claims.append(Claim(left, right, relation, outcome))
    return claims


def operands(claim: Claim) -> tuple[sympy.Expr, ...]:
    """The numbers a claim computes from: the literals of its computed side(s)."""
    sides = [e for e in (claim.left, claim.right) if not e.literal]
    found = []
    for side in sides:
        for i, token in enumerate(side.tokens):
            if token.kind == "num":
                value = literal_value(token.text)
                pct = i + 1 < len(side.tokens) and side.tokens[i + 1].kind == "pct"
                found.append(value / 100 if pct else value)
    return tuple(found)


class Arithmetic(Check):
    name = "arithmetic"

    def run(self, trace: Trace) -> CheckResult:
        result = CheckResult()
        for field_name, text in (("reasoning", trace.reasoning), ("answer", trace.answer)):
            self._check_text(field_name, text, result)
        return result

    def _check_text(self, field_name: str, text: str, result: CheckResult) -> None:
        norm = normalize(text)
        claims = claims_in(norm)
        for index, claim in enumerate(claims):
            start, end = norm.span(claim.left.start, claim.right.end)
            if claim.outcome is Outcome.RIGHT:
                result.verified += 1
            if claim.outcome is not Outcome.WRONG:
                value = claim.right.value if claim.right.literal else claim.left.value
                at = (FIELD_ORDER.index(field_name), start)
                result.derived.append(Derivation(value, operands(claim), at))
                continue
            message = f"{_show(text, norm, claim.left, claim.right)} is wrong: {_correction(text, norm, claim)}"
            span = Span(field=field_name, start=start, end=end)  # type: ignore[arg-type]
            quote, expected = _show(text, norm, claim.left, claim.right), _correction(text, norm, claim)
            if _taken_back(text, end, norm, claim, claims[index + 1 :]):
                note = f"{message}; the reasoning corrects it afterwards."
                result.findings.append(self.finding("info", note, span, quote=quote, expected=expected))
            else:
                result.findings.append(self.finding("error", message, span, quote=quote, expected=expected))


def _original(text: str, norm: Normalized, element: Element) -> str:
    start, end = norm.span(element.start, element.end)
    return " ".join(text[start:end].split())


def _show(text: str, norm: Normalized, left: Element, right: Element) -> str:
    start, end = norm.span(left.start, right.end)
    return " ".join(text[start:end].split())


def _correction(text: str, norm: Normalized, claim: Claim) -> str:
    if not claim.left.literal and not claim.right.literal:
        return (
            f"{_original(text, norm, claim.left)} = {fmt(claim.left.value)}"
            f" but {_original(text, norm, claim.right)} = {fmt(claim.right.value)}"
        )
    return f"{_original(text, norm, claim.computed)} = {fmt(claim.computed.value)}"


def _taken_back(text: str, end: int, norm: Normalized, claim: Claim, later: list[Claim]) -> bool:
    """Whether the model itself noticed: it questions the claim, calls it wrong, or redoes the
    same computation correctly further on."""
    if retracted(text[end:]):
        return True
    key = _key(norm, claim.computed)
    return any(c.outcome is Outcome.RIGHT and _key(norm, c.computed) == key for c in later)


def _key(norm: Normalized, element: Element) -> str:
    return "".join(norm.text[element.start : element.end].split())
