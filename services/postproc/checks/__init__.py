"""The checks, by name. `run_checks` runs them all and turns their findings into a verdict."""

from __future__ import annotations

from collections.abc import Iterable

from services.postproc.checks.agreement import Agreement
from services.postproc.checks.arithmetic import Arithmetic
from services.postproc.checks.base import Check, CheckResult, Trace
from services.postproc.checks.equations import Equations
from services.postproc.checks.structural import AnswerPresent, NoRepetition, NotTruncated, ReasoningClosed
from services.postproc.exceptions import UnknownCheck
from shared.schemas import CheckReport

REGISTRY: dict[str, type[Check]] = {
    cls.name: cls
    for cls in (AnswerPresent, ReasoningClosed, NotTruncated, NoRepetition, Arithmetic, Equations, Agreement)
}


def get_check(name: str) -> Check:
    try:
        return REGISTRY[name]()
    except KeyError:
        raise UnknownCheck(f"no check named {name!r}; known checks: {', '.join(sorted(REGISTRY))}") from None


def run_checks(trace: Trace, names: Iterable[str] | None = None) -> CheckReport:
    """Run the named checks (all by default) and decide the verdict: `fail` if any finding is an
    error, `pass` if something was verified, `unsure` if nothing could be."""
    selected = list(names) if names is not None else list(REGISTRY)
    findings, verified = [], 0
    for name in selected:
        result = get_check(name).run(trace)
        findings.extend(result.findings)
        verified += result.verified
    if any(f.severity == "error" for f in findings):
        verdict = "fail"
    elif verified:
        verdict = "pass"
    else:
        verdict = "unsure"
    return CheckReport(verdict=verdict, findings=findings, checks_run=selected, verified=verified)


__all__ = ["REGISTRY", "Check", "CheckResult", "Trace", "get_check", "run_checks"]
