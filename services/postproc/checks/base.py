"""What a check is: a named unit run on (question, reasoning, answer) that returns findings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import sympy

from shared.schemas import Finding, FinishReason, ReasoningEnd, Severity, Span

FIELD_ORDER = ("reasoning", "answer")
"""The order a reader meets the model's text in."""


@dataclass(frozen=True)
class Trace:
    question: str
    reasoning: str
    answer: str
    finish_reason: FinishReason | None = None
    reasoning_end: ReasoningEnd | None = None


@dataclass(frozen=True)
class Derivation:
    """A value worked out by a computation or an equation system that checks out, and the
    numbers it was worked out from."""

    value: sympy.Expr
    operands: tuple[sympy.Expr, ...]
    at: tuple[int, int] = (len(FIELD_ORDER), 0)
    """Where it is written, in reading order: (index in FIELD_ORDER, offset in that field). A value
    may ground only what is written after it. The default, after everything, is for values that
    a whole system produces (an equation system's solution)."""


@dataclass
class CheckResult:
    findings: list[Finding] = field(default_factory=list)
    verified: int = 0
    """How many facts the check confirmed (a correct computation, a satisfied equation…)."""
    derived: list[Derivation] = field(default_factory=list)
    """Values that a computation or an equation system the check verified produces: the
    evidence that a final value was worked out correctly."""
    agreed: list[sympy.Expr] | None = None
    """Set by the agreement check when the answer's final values are the ones the reasoning
    concluded: those values (empty for an agreeing option or yes/no)."""
    confirms: bool = False
    """The check verified the final answer on its own: the question's own expression or
    equations give exactly the answer's values."""
    required: bool = False
    """The check applies to this question and only its confirmation can make a pass: when the
    question writes out what to compute, agreeing with the reasoning is not enough."""


class Check:
    """Subclasses set `name` and implement `run`."""

    name: ClassVar[str]

    def run(self, trace: Trace) -> CheckResult:
        raise NotImplementedError

    def finding(
        self,
        severity: Severity,
        message: str,
        span: Span | None = None,
        *,
        related_span: Span | None = None,
        quote: str | None = None,
        expected: str | None = None,
    ) -> Finding:
        return Finding(
            check=self.name,
            severity=severity,
            message=message,
            span=span,
            related_span=related_span,
            quote=quote,
            expected=expected,
        )
