"""The checks, by name. `run_checks` runs them all and turns their findings into a verdict
(`verdict.py` says what each verdict promises)."""

from __future__ import annotations

from collections.abc import Iterable

from services.postproc.checks.agreement import Agreement
from services.postproc.checks.arithmetic import Arithmetic
from services.postproc.checks.base import Check, CheckResult, Trace
from services.postproc.checks.equations import Equations
from services.postproc.checks.givens import Given, given_numbers, givens
from services.postproc.checks.question import QuestionExpression
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


def run_checks(trace: Trace, names: Iterable[str] | None = None) -> CheckReport:
    """Run the named checks (all by default) and decide the verdict."""
    selected = list(names) if names is not None else list(REGISTRY)
    results = [get_check(name).run(trace) for name in selected]
    verdict, findings = decide(results, given_numbers(trace.question))
    verified = sum(r.verified for r in results)
    confirmed = any(r.confirms for r in results)
    return CheckReport(
        verdict=verdict, findings=findings, checks_run=selected, verified=verified, answer_confirmed=confirmed
    )


__all__ = ["REGISTRY", "Check", "CheckResult", "Given", "Trace", "get_check", "given_numbers", "givens", "run_checks"]
