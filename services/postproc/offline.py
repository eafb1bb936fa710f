"""`thinkstream check IN.jsonl [-o OUT.jsonl]`: run the answer checks on saved traces, no Redis needed.

A line that is not a valid trace gets no output line; it is reported in the returned summary with
its line number, and every other line is still checked. Output lines therefore keep their `id`
for joining, not their position.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import ErrorDetails

from services.postproc.checks import Trace, run_checks
from shared.schemas import Finding, FinishReason, ReasoningEnd, Verdict


class TraceLine(BaseModel):
    """One input line. Extra fields (a label, a kind) are allowed and ignored."""

    model_config = ConfigDict(extra="ignore")

    id: str | int
    question: str
    reasoning: str
    answer: str
    finish_reason: FinishReason | None = None
    reasoning_end: ReasoningEnd | None = None


class CheckedLine(BaseModel):
    """One output line."""

    model_config = ConfigDict(extra="forbid")

    id: str | int
    verdict: Verdict
    findings: list[Finding]


@dataclass(frozen=True)
class LineError:
    line: int
    """1-based line number in the input."""
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass
class CheckFileSummary:
    verdicts: Counter[str] = field(default_factory=Counter)
    errors: list[LineError] = field(default_factory=list)

    @property
    def checked(self) -> int:
        return sum(self.verdicts.values())


def check_lines(lines: Iterable[str], out: TextIO) -> CheckFileSummary:
    """Check each JSONL trace line and write one result line per valid trace to `out`."""
    summary = CheckFileSummary()
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            line = TraceLine.model_validate_json(raw)
        except ValidationError as exc:
            summary.errors.append(LineError(number, _explain(exc)))
            continue
        trace = Trace(line.question, line.reasoning, line.answer, line.finish_reason, line.reasoning_end)
        report = run_checks(trace)
        checked = CheckedLine(id=line.id, verdict=report.verdict, findings=report.findings)
        out.write(json.dumps(checked.model_dump(mode="json"), ensure_ascii=False) + "\n")
        summary.verdicts[report.verdict] += 1
    return summary


def check_file(in_path: str | Path, out_path: str | Path | None = None) -> CheckFileSummary:
    """Check every trace in `in_path` (JSONL) and write results to `out_path`, or stdout when None.

    Raises FileNotFoundError for a missing input; bad lines are in `summary.errors`, not raised."""
    with open(in_path, encoding="utf-8") as lines:
        if out_path is None:
            return check_lines(lines, sys.stdout)
        with open(out_path, "w", encoding="utf-8") as out:
            return check_lines(lines, out)


def _explain(exc: ValidationError) -> str:
    return "; ".join(_explain_one(error) for error in exc.errors())


def _explain_one(error: ErrorDetails) -> str:
    if error["type"] == "json_invalid":
        return f"not valid JSON ({error.get('ctx', {}).get('error', 'parse error')})"
    if error["type"] == "model_type":
        return "expected a JSON object with id, question, reasoning and answer"
    where = ".".join(str(part) for part in error["loc"])
    if error["type"] == "missing":
        return f"missing field {where!r}"
    return f"field {where!r}: {error['msg']}"
