"""The checks, by name. `run_checks` runs them all and turns their findings into a verdict
(`verdict.py` says what each verdict promises)."""

from __future__ import annotations

from collections.abc import Iterable

import sympy

from services.postproc.checks.agreement import Agreement
from services.postproc.checks.arithmetic import Arithmetic
from services.postproc.checks.base import Check, CheckResult, Trace
from services.postproc.checks.equations import Equations
from services.postproc.checks.question import QuestionExpression
from services.postproc.checks.reading import asked
from services.postproc.checks.structural import (
    AnswerPresent,
    AnswersQuestion,
    NoRepetition,
    NotTruncated,
    ReasoningClosed,
)
from services.postproc.checks.verdict import decide
from services.postproc.exceptions import UnknownCheck
from shared.schemas import CheckReport

REGISTRY: dict[str, type[Check]] = {
    cls.name: cls
    for cls in (
        AnswerPresent,
        AnswersQuestion,
        ReasoningClosed,
        NotTruncated,
        NoRepetition,
        Arithmetic,
        Equations,
        Agreement,
        QuestionExpression,
    )
}


def get_check(name: str) -> Check:
    try:
        return REGISTRY[name]()
    except KeyError:
        raise UnknownCheck(f"no check named {name!r}; known checks: {', '.join(sorted(REGISTRY))}") from None


def givens(question: str) -> list[sympy.Expr]:
    """The numbers a grounded computation may start from: every value the question states, in
    each form its writing gives: a percentage as a fraction and as its parts (25% → 0.25, 25 and
    100), a fraction's terms (1/3 → 1 and 3). Nothing else: no constant is assumed."""
    found: list[sympy.Expr] = []
    for item in asked(question).given:
        if item.value is None:
            continue
        found.append(item.value)
        if item.raw.endswith("%"):
            found += [item.value * 100, sympy.Integer(100)]
        if "/" in item.raw:
            found += [sympy.Integer(item.value.p), sympy.Integer(item.value.q)]
    return found


def run_checks(trace: Trace, names: Iterable[str] | None = None) -> CheckReport:
    """Run the named checks (all by default) and decide the verdict."""
    selected = list(names) if names is not None else list(REGISTRY)
    results = [get_check(name).run(trace) for name in selected]
    verdict, findings = decide(results, givens(trace.question))
    verified = sum(r.verified for r in results)
    confirmed = any(r.confirms for r in results)
    return CheckReport(
        verdict=verdict, findings=findings, checks_run=selected, verified=verified, answer_confirmed=confirmed
    )


__all__ = ["REGISTRY", "Check", "CheckResult", "Trace", "get_check", "givens", "run_checks"]
