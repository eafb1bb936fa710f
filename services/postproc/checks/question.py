"""Question: when the question itself writes out the computation ("What is 17 + 9?", 计算：
(3 + 9) × 8), or says it in words that make up the whole question ("Multiply 9 by 8.", "the sum
of 123 and 77", 6和15的积; `phrasing.py`), compute it exactly and compare the answer's final
value with it.

The strongest check there is: it does not depend on the model's reasoning at all. A right value
confirms the answer on its own; a firmly stated wrong one is an error that quotes the right value.
Equations written in the question (`Solve for x: 3x + 4 = 19`) are the equations check's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sympy

from services.postproc.checks.base import Check, CheckResult, Trace
from services.postproc.checks.numbers import Normalized, Token, fmt, normalize, parse, runs
from services.postproc.checks.phrasing import phrased_expression
from services.postproc.checks.reading import asked, items, read
from shared.schemas import Span

# The expression must be what is asked: after "what is" / 计算 …, or before "?", "=", 等于.
_ASKS_BEFORE = re.compile(
    r"(?:what\s+is|what's|calculate|compute|evaluate|work\s+out|find|计算|求|算一算)\W{0,3}$", re.I
)
_ASKS_AFTER = re.compile(r"^\s*(?:[?？=]|等于|是多少|得多少|equals?\b|is\s+what\b)", re.I)


@dataclass(frozen=True)
class Expression:
    value: sympy.Expr
    text: str
    """As the question writes it."""


def _is_computation(tokens: list[Token]) -> bool:
    kinds = [t.kind for t in tokens]
    if "var" in kinds or "rel" in kinds:
        return False
    return any(t.kind == "op" and i > 0 and kinds[i - 1] in ("num", "rp", "pct") for i, t in enumerate(tokens))


def explicit_expression(question: str) -> Expression | None:
    """The one computation the question asks for, in symbols or in words, or None (none,
    several, or not asked for)."""
    norm: Normalized = normalize(question)
    found = []
    for run in runs(norm.text):
        if not _is_computation(run):
            continue
        value = parse(run)
        if value is None or not value.is_number:
            continue
        start, end = run[0].start, run[-1].end
        if _ASKS_BEFORE.search(norm.text[max(0, start - 20) : start]) or _ASKS_AFTER.match(norm.text[end:]):
            o_start, o_end = norm.span(start, end)
            found.append(Expression(value, " ".join(question[o_start:o_end].split())))
    if found:
        return found[0] if len(found) == 1 else None
    phrased = phrased_expression(question)
    if phrased is None:
        return None
    return Expression(phrased.value, " ".join(question[phrased.start : phrased.end].split()))


class QuestionExpression(Check):
    name = "question"

    def run(self, trace: Trace) -> CheckResult:
        expression = explicit_expression(trace.question)
        ask = asked(trace.question)
        if expression is None or ask.kind != "values":
            return CheckResult()
        expected = f"{expression.text} = {fmt(expression.value)}"
        answered = read(trace.answer, ask, conclusion=False)
        if answered is None or answered.values[-1].value is None:
            return CheckResult(required=True)
        said = answered.values[-1]
        if _equal(said.value, expression.value):
            return CheckResult(verified=1, confirms=True, required=True)
        if not answered.firm and _anywhere(trace.answer, expression.value):
            return CheckResult(required=True)  # several values, the right one among them: not sure which is meant
        message = f"The question asks for {expected}, but the answer says {said.raw}"
        span = Span(field="answer", start=answered.start, end=answered.end)
        return CheckResult([self.finding("error", message, span, quote=said.raw, expected=expected)], required=True)


def _equal(a: sympy.Expr | None, b: sympy.Expr) -> bool:
    return a is not None and sympy.simplify(a - b) == 0


def _anywhere(answer: str, value: sympy.Expr) -> bool:
    return any(_equal(item.value, value) for item in items(normalize(answer)))
