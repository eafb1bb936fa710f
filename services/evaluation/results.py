"""What an evaluation produces: one record per question and mode, a summary per mode, the whole
run. These are the JSON file's schema."""

from __future__ import annotations

from statistics import fmean
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from shared.schemas import Verdict

RecordStatus = Literal["succeeded", "failed", "canceled", "error"]
"""A job's final status, or `error` when the harness could not get one (HTTP error, timeout)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class QuestionRecord(_Model):
    """One question asked in one mode."""

    id: str
    lang: str
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


class ModeSummary(_Model):
    """The table row of one mode. Rates are fractions in [0, 1]; means are over answered questions."""

    questions: int
    answered: int
    """Jobs that finished (succeeded); the timing and token means are over these."""
    errors: int
    correct: int
    accuracy: float
    accuracy_by_lang: dict[str, float]
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
