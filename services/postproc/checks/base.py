"""What a check is: a named unit run on (question, reasoning, answer) that returns findings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from shared.schemas import Finding, FinishReason, ReasoningEnd, Severity, Span


@dataclass(frozen=True)
class Trace:
    question: str
    reasoning: str
    answer: str
    finish_reason: FinishReason | None = None
    reasoning_end: ReasoningEnd | None = None


@dataclass
class CheckResult:
    findings: list[Finding] = field(default_factory=list)
    verified: int = 0
    """How many facts the check confirmed (a correct computation, a satisfied equation…)."""


class Check:
    """Subclasses set `name` and implement `run`."""

    name: ClassVar[str]

    def run(self, trace: Trace) -> CheckResult:
        raise NotImplementedError

    def finding(self, severity: Severity, message: str, span: Span | None = None) -> Finding:
        return Finding(check=self.name, severity=severity, message=message, span=span)
