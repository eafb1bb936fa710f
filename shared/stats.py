"""Figures over finished jobs, kept in Redis so that one scrape of any gateway covers the cluster.

The post-processing worker records each job once, when its checks are done: it is the one place
that holds both the `InferenceResult` and the `CheckReport`. The gateway reads the figures back
for `/metrics`. A histogram is a hash with one counter per bucket (not cumulative, so recording
costs one HINCRBY per histogram) plus the sum; the reader makes the counts cumulative, as
Prometheus expects.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, get_args

from shared import keys
from shared.schemas import CheckReport, InferenceResult, Verdict

OVERFLOW_FIELD = "+Inf"
SUM_FIELD = "sum"
VERDICTS: tuple[str, ...] = get_args(Verdict)
FINISH_REASONS = ("stop", "length")
"""Always reported, zero or not; a canceled job never reaches the checks, so it is not counted."""
TOKEN_KINDS = ("prompt", "reasoning", "answer")
FILL_GENERATED_FIELD = "fill:generated"
FILL_BUDGET_FIELD = "fill:budget"
"""Generated tokens and `max_tokens` summed over the jobs recorded with their budget."""


class _Redis(Protocol):
    """A synchronous redis-py client; typed structurally so this package stays a leaf."""

    def pipeline(self, transaction: bool = True) -> Any: ...


@dataclass(frozen=True)
class HistogramSpec:
    name: str
    """The histogram's Redis name and, prefixed with `thinkstream_`, its metric name."""
    bounds: tuple[float, ...]
    """Bucket upper bounds, ascending; values above the last fall in the overflow bucket.
    Changing them orphans the counts of removed bounds: clear the histogram's key when you do."""
    help: str

    def field(self, value: float) -> str:
        """The bucket a value falls in: the first bound at or above it (Prometheus's `le`)."""
        index = bisect.bisect_left(self.bounds, value)
        return _bound_field(self.bounds[index]) if index < len(self.bounds) else OVERFLOW_FIELD


TIME_TO_FIRST_TOKEN = HistogramSpec(
    "time_to_first_token_seconds",
    (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
    "From the gateway accepting a job to its first generated token (queue wait included).",
)
JOB_DURATION = HistogramSpec(
    "job_duration_seconds",
    (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 900),
    "From the gateway accepting a job to its last generated token.",
)
QUEUE_WAIT = HistogramSpec(
    "queue_wait_seconds",
    (0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900),
    "From the gateway accepting a job to a worker starting it.",
)
DECODE_RATE = HistogramSpec(
    "decode_tokens_per_second",
    (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
    "Decode speed of each job: generated tokens per second from the first to the last token.",
)
HISTOGRAMS = (TIME_TO_FIRST_TOKEN, JOB_DURATION, QUEUE_WAIT, DECODE_RATE)


def record_job(
    redis: _Redis,
    *,
    worker_id: str,
    result: InferenceResult,
    report: CheckReport,
    ttl_s: int,
    budget_tokens: int | None = None,
) -> None:
    """Count one finished job: cluster counters, histograms and the counters of the worker that
    generated it. One transaction, so a scrape never sees half a job. `budget_tokens`: the job's
    `max_tokens`, for the share of their budgets jobs use (`budget_fill`)."""
    timings, usage = result.timings, result.usage
    observations = {
        TIME_TO_FIRST_TOKEN: timings.ttft_ms / 1000,
        JOB_DURATION: timings.total_ms / 1000,
        QUEUE_WAIT: timings.queued_ms / 1000,
    }
    if timings.tokens_per_s > 0:  # a one-token answer has no decode speed
        observations[DECODE_RATE] = timings.tokens_per_s
    tokens = {"prompt": usage.prompt_tokens, "reasoning": usage.reasoning_tokens, "answer": usage.answer_tokens}
    worker_key = keys.worker_stats_key(worker_id)
    with redis.pipeline(transaction=True) as pipe:
        pipe.hincrby(keys.STATS_TOTALS_KEY, "jobs", 1)
        pipe.hincrby(keys.STATS_TOTALS_KEY, f"finish:{result.finish_reason}", 1)
        pipe.hincrby(keys.STATS_TOTALS_KEY, f"verdict:{report.verdict}", 1)
        for kind, count in tokens.items():
            pipe.hincrby(keys.STATS_TOTALS_KEY, f"tokens:{kind}", count)
        for spec, value in observations.items():
            pipe.hincrby(keys.stats_histogram_key(spec.name), spec.field(value), 1)
            pipe.hincrbyfloat(keys.stats_histogram_key(spec.name), SUM_FIELD, value)
        if budget_tokens:
            pipe.hincrby(keys.STATS_TOTALS_KEY, FILL_GENERATED_FIELD, usage.completion_tokens)
            pipe.hincrby(keys.STATS_TOTALS_KEY, FILL_BUDGET_FIELD, budget_tokens)
        pipe.hincrby(worker_key, "jobs", 1)
        pipe.hincrby(worker_key, "prompt_tokens", usage.prompt_tokens)
        pipe.hincrby(worker_key, "generated_tokens", usage.completion_tokens)
        # The worker is busy from taking the job to its last token; checks run elsewhere.
        pipe.hincrbyfloat(worker_key, "busy_seconds", max(timings.total_ms - timings.queued_ms, 0.0) / 1000)
        pipe.expire(worker_key, ttl_s)
        pipe.execute()


@dataclass(frozen=True)
class Histogram:
    spec: HistogramSpec
    counts: tuple[int, ...]
    """Per bucket, not cumulative: one per bound, then the overflow bucket."""
    sum: float

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative(self) -> list[tuple[float, int]]:
        """`(le, observations <= le)` for every bound and then `+inf`, as Prometheus exposes them."""
        running, out = 0, []
        for bound, count in zip((*self.spec.bounds, math.inf), self.counts, strict=True):
            running += count
            out.append((bound, running))
        return out


@dataclass(frozen=True)
class JobStats:
    jobs: int
    finish_reasons: dict[str, int]
    failures: dict[str, int]
    """Jobs that ended with an error, by its code (`generation_failed`, `worker_lost`...)."""
    verdicts: dict[str, int]
    tokens: dict[str, int]
    histograms: tuple[Histogram, ...]


@dataclass(frozen=True)
class WorkerStats:
    jobs: int = 0
    prompt_tokens: int = 0
    generated_tokens: int = 0
    busy_seconds: float = 0.0


def read_job_stats(redis: _Redis) -> JobStats:
    """Every cluster-wide figure, in one round trip; zeros before the first job."""
    with redis.pipeline(transaction=False) as pipe:
        pipe.hgetall(keys.STATS_TOTALS_KEY)
        for spec in HISTOGRAMS:
            pipe.hgetall(keys.stats_histogram_key(spec.name))
        totals_raw, *histograms_raw = pipe.execute()
    totals = _decode(totals_raw)
    return JobStats(
        jobs=int(totals.get("jobs", 0)),
        finish_reasons=_prefixed(totals, "finish:", FINISH_REASONS),
        failures=_prefixed(totals, "failed:", ()),
        verdicts={verdict: int(totals.get(f"verdict:{verdict}", 0)) for verdict in VERDICTS},
        tokens={kind: int(totals.get(f"tokens:{kind}", 0)) for kind in TOKEN_KINDS},
        histograms=tuple(_histogram(spec, _decode(raw)) for spec, raw in zip(HISTOGRAMS, histograms_raw, strict=True)),
    )


def record_failure(redis: _Redis, code: str) -> None:
    """Count one job that ended with an error."""
    with redis.pipeline(transaction=False) as pipe:
        pipe.hincrby(keys.STATS_TOTALS_KEY, f"failed:{code}", 1)
        pipe.execute()


def mean_generation_s(redis: _Redis) -> float | None:
    """How long a worker has spent on a job, on average over every job so far (from taking it to
    its last token); None before the first job."""
    with redis.pipeline(transaction=False) as pipe:
        pipe.hgetall(keys.stats_histogram_key(JOB_DURATION.name))
        pipe.hgetall(keys.stats_histogram_key(QUEUE_WAIT.name))
        total_raw, wait_raw = pipe.execute()
    total, wait = _histogram(JOB_DURATION, _decode(total_raw)), _histogram(QUEUE_WAIT, _decode(wait_raw))
    if total.count == 0:
        return None
    return max(total.sum - wait.sum, 0.0) / total.count


def budget_fill(redis: _Redis) -> float | None:
    """The share of their `max_tokens` that finished jobs generated, over every job so far (0-1);
    None before the first."""
    with redis.pipeline(transaction=False) as pipe:
        pipe.hmget(keys.STATS_TOTALS_KEY, [FILL_GENERATED_FIELD, FILL_BUDGET_FIELD])
        ((generated, budget),) = pipe.execute()
    if not budget or not int(budget):
        return None
    return min(int(generated or 0) / int(budget), 1.0)


def mean_decode_rate(redis: _Redis) -> float | None:
    """Mean decode speed of finished jobs (tokens/s), any worker; None before the first."""
    with redis.pipeline(transaction=False) as pipe:
        pipe.hgetall(keys.stats_histogram_key(DECODE_RATE.name))
        (raw,) = pipe.execute()
    rates = _histogram(DECODE_RATE, _decode(raw))
    return rates.sum / rates.count if rates.count else None


def mean_prompt_s(redis: _Redis) -> float | None:
    """Mean time from a worker taking a job to its first token (prompt evaluation), over every
    job so far; None before the first."""
    with redis.pipeline(transaction=False) as pipe:
        pipe.hgetall(keys.stats_histogram_key(TIME_TO_FIRST_TOKEN.name))
        pipe.hgetall(keys.stats_histogram_key(QUEUE_WAIT.name))
        ttft_raw, wait_raw = pipe.execute()
    ttft, wait = _histogram(TIME_TO_FIRST_TOKEN, _decode(ttft_raw)), _histogram(QUEUE_WAIT, _decode(wait_raw))
    if ttft.count == 0:
        return None
    return max(ttft.sum - wait.sum, 0.0) / ttft.count


def read_worker_stats(redis: _Redis, worker_ids: Sequence[str]) -> dict[str, WorkerStats]:
    """The counters of each given worker, in one round trip; zeros for a worker with no job yet."""
    with redis.pipeline(transaction=False) as pipe:
        for worker_id in worker_ids:
            pipe.hgetall(keys.worker_stats_key(worker_id))
        rows = pipe.execute()
    out = {}
    for worker_id, raw in zip(worker_ids, rows, strict=True):
        row = _decode(raw)
        out[worker_id] = WorkerStats(
            jobs=int(row.get("jobs", 0)),
            prompt_tokens=int(row.get("prompt_tokens", 0)),
            generated_tokens=int(row.get("generated_tokens", 0)),
            busy_seconds=float(row.get("busy_seconds", 0.0)),
        )
    return out


def _prefixed(row: Mapping[str, str], prefix: str, always: Sequence[str]) -> dict[str, int]:
    counts = dict.fromkeys(always, 0)
    counts.update({field.removeprefix(prefix): int(value) for field, value in row.items() if field.startswith(prefix)})
    return counts


def _histogram(spec: HistogramSpec, row: Mapping[str, str]) -> Histogram:
    fields = [*(_bound_field(bound) for bound in spec.bounds), OVERFLOW_FIELD]
    return Histogram(spec, tuple(int(row.get(field, 0)) for field in fields), float(row.get(SUM_FIELD, 0.0)))


def _bound_field(bound: float) -> str:
    return format(bound, "g")


def _decode(raw: Mapping[bytes | str, bytes | str]) -> dict[str, str]:
    return {_text(key): _text(value) for key, value in raw.items()}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
