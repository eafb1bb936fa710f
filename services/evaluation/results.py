"""What an evaluation produces: one record per question and mode, a summary per mode, the whole
run. These are the JSON file's schema."""

from __future__ import annotations

import math
from statistics import fmean
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from shared.schemas import Verdict

RecordStatus = Literal["succeeded", "failed", "canceled", "error"]
"""A job's final status, or `error` when the harness could not get one (HTTP error, timeout)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


WILSON_Z = 1.959964
"""95% two-sided normal quantile."""


def wilson(correct: int, n: int, z: float = WILSON_Z) -> tuple[float, float]:
    """Wilson score interval of a proportion (Wilson, 1927): unlike the normal approximation it
    stays inside [0, 1] and is honest at 0/n and n/n, which small rungs hit."""
    if n == 0:
        return 0.0, 1.0
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


class QuestionRecord(_Model):
    """One question asked in one mode."""

    id: str
    lang: str
    rung: str | None = None
    job_id: str | None = None
    status: RecordStatus
    correct: bool = False
    extracted: list[str] = []
    """What the scorer read as the final answer."""
    gold: list[str]
    verdict: Verdict | None = None
    finish_reason: str | None = None
    queued_ms: float = 0.0
    ttft_ms: float = 0.0
    total_ms: float = 0.0
    tokens_per_s: float = 0.0
    reasoning_tokens: int = 0
    answer_tokens: int = 0
    answer: str = ""
    error: str | None = None


class Proportion(_Model):
    """A share with its 95% Wilson interval."""

    correct: int
    n: int
    rate: float
    low: float
    high: float

    @classmethod
    def of(cls, correct: int, n: int) -> Proportion:
        low, high = wilson(correct, n)
        return cls(correct=correct, n=n, rate=correct / n if n else 0.0, low=low, high=high)


class ModeSummary(_Model):
    """The table row of one mode. Rates are fractions in [0, 1]; means are over answered questions."""

    questions: int
    answered: int
    """Jobs that finished (succeeded); the timing and token means are over these."""
    errors: int
    correct: int
    accuracy: float
    accuracy_by_lang: dict[str, float]
    accuracy_ci: Proportion | None = None
    """Accuracy with its 95% interval."""
    accuracy_by_rung: dict[str, Proportion] = {}
    """Per rung of the ladder, with 95% intervals; empty for questions without a rung."""
    verdicts: dict[str, int]
    """pass / fail / unsure counts over jobs with a check report."""
    pass_rate: float
    fail_rate: float
    unsure_rate: float
    correct_when_pass: float | None
    """Of the answers the checks passed, the fraction that were right: how far a pass can be trusted."""
    mean_ttft_ms: float
    mean_total_ms: float
    mean_tokens_per_s: float
    mean_reasoning_tokens: float
    mean_answer_tokens: float


class ModeResult(_Model):
    name: str
    fields: dict[str, Any]
    """The extra request fields this mode sends."""
    available: bool = True
    unavailable_reason: str | None = None
    summary: ModeSummary | None = None
    records: list[QuestionRecord] = []


class EvalRun(_Model):
    url: str
    questions_file: str
    started_at: str
    """ISO 8601, UTC."""
    duration_s: float
    concurrency: int
    request: dict[str, Any]
    """The generation fields sent with every question."""
    modes: list[ModeResult]


def _mean(xs: list[float]) -> float:
    return fmean(xs) if xs else 0.0


def _rate(count: int, total: int) -> float:
    return count / total if total else 0.0


def summarize(records: list[QuestionRecord]) -> ModeSummary:
    """Aggregate one mode's records into its table row."""
    answered = [r for r in records if r.status == "succeeded"]
    checked = [r for r in records if r.verdict is not None]
    verdicts = {v: sum(r.verdict == v for r in checked) for v in ("pass", "fail", "unsure")}
    passed = [r for r in checked if r.verdict == "pass"]
    langs = sorted({r.lang for r in records})
    rungs = sorted({r.rung for r in records if r.rung})
    return ModeSummary(
        questions=len(records),
        answered=len(answered),
        errors=sum(r.status == "error" for r in records),
        correct=sum(r.correct for r in records),
        accuracy=_rate(sum(r.correct for r in records), len(records)),
        accuracy_by_lang={
            lang: _rate(sum(r.correct for r in records if r.lang == lang), sum(r.lang == lang for r in records))
            for lang in langs
        },
        accuracy_ci=Proportion.of(sum(r.correct for r in records), len(records)),
        accuracy_by_rung={
            rung: Proportion.of(sum(r.correct for r in records if r.rung == rung), sum(r.rung == rung for r in records))
            for rung in rungs
        },
        verdicts=verdicts,
        pass_rate=_rate(verdicts["pass"], len(checked)),
        fail_rate=_rate(verdicts["fail"], len(checked)),
        unsure_rate=_rate(verdicts["unsure"], len(checked)),
        correct_when_pass=_rate(sum(r.correct for r in passed), len(passed)) if passed else None,
        mean_ttft_ms=_mean([r.ttft_ms for r in answered]),
        mean_total_ms=_mean([r.total_ms for r in answered]),
        mean_tokens_per_s=_mean([r.tokens_per_s for r in answered]),
        mean_reasoning_tokens=_mean([float(r.reasoning_tokens) for r in answered]),
        mean_answer_tokens=_mean([float(r.answer_tokens) for r in answered]),
    )
