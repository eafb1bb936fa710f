from __future__ import annotations

import math
from collections.abc import Callable

import fakeredis
import pytest

from shared import keys, stats
from shared.schemas import CheckReport, InferenceResult, Timings, Usage

MakeResult = Callable[..., InferenceResult]


@pytest.fixture
def redis() -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis()


@pytest.fixture
def make_result() -> MakeResult:
    def make(
        *,
        ttft_ms: float,
        total_ms: float,
        queued_ms: float = 100.0,
        tokens_per_s: float = 40.0,
        reasoning: int = 30,
        answer: int = 10,
        finish: str = "stop",
    ) -> InferenceResult:
        return InferenceResult(
            finish_reason=finish,
            reasoning_end="model",
            usage=Usage(prompt_tokens=20, reasoning_tokens=reasoning, answer_tokens=answer),
            timings=Timings(queued_ms=queued_ms, ttft_ms=ttft_ms, total_ms=total_ms, tokens_per_s=tokens_per_s),
        )

    return make


def record(redis: fakeredis.FakeRedis, result: InferenceResult, verdict: str, worker: str = "w1") -> None:
    stats.record_job(redis, worker_id=worker, result=result, report=CheckReport(verdict=verdict), ttl_s=3600)


def test_stats_two_jobs_fill_the_histogram_buckets(redis: fakeredis.FakeRedis, make_result: MakeResult) -> None:
    record(redis, make_result(ttft_ms=300, total_ms=2_000), "pass")
    record(redis, make_result(ttft_ms=4_000, total_ms=40_000), "fail")

    figures = stats.read_job_stats(redis)
    ttft = next(h for h in figures.histograms if h.spec is stats.TIME_TO_FIRST_TOKEN)
    assert ttft.count == 2
    assert ttft.sum == pytest.approx(4.3)
    buckets = dict(ttft.cumulative())
    assert [buckets[le] for le in (0.25, 0.5, 2.5, 5, 300, math.inf)] == [0, 1, 1, 2, 2, 2]
    duration = dict(next(h for h in figures.histograms if h.spec is stats.JOB_DURATION).cumulative())
    assert [duration[le] for le in (1, 2.5, 30, 60, math.inf)] == [0, 1, 1, 2, 2]


def test_stats_verdicts_finish_reasons_and_tokens_are_counted(
    redis: fakeredis.FakeRedis, make_result: MakeResult
) -> None:
    record(redis, make_result(ttft_ms=300, total_ms=2_000), "pass")
    record(redis, make_result(ttft_ms=300, total_ms=2_000, finish="length"), "pass")
    record(redis, make_result(ttft_ms=300, total_ms=2_000), "unsure")

    figures = stats.read_job_stats(redis)
    assert figures.jobs == 3
    assert figures.verdicts == {"pass": 2, "fail": 0, "unsure": 1}
    assert figures.finish_reasons == {"stop": 2, "length": 1}
    assert figures.tokens == {"prompt": 60, "reasoning": 90, "answer": 30}


def test_stats_value_on_a_bound_falls_in_that_bucket() -> None:
    assert stats.TIME_TO_FIRST_TOKEN.field(0.5) == "0.5"
    assert stats.TIME_TO_FIRST_TOKEN.field(0.5001) == "1"
    assert stats.TIME_TO_FIRST_TOKEN.field(10_000) == "+Inf"


def test_stats_one_token_answer_has_no_decode_rate(redis: fakeredis.FakeRedis, make_result: MakeResult) -> None:
    record(redis, make_result(ttft_ms=300, total_ms=300, tokens_per_s=0.0, reasoning=0, answer=1), "unsure")
    record(redis, make_result(ttft_ms=300, total_ms=2_000, tokens_per_s=42.0), "pass")

    rate = next(h for h in stats.read_job_stats(redis).histograms if h.spec is stats.DECODE_RATE)
    assert (rate.count, rate.sum) == (1, 42.0)
    assert dict(rate.cumulative())[50] == 1 and dict(rate.cumulative())[20] == 0


def test_stats_worker_counters_add_up_per_worker(redis: fakeredis.FakeRedis, make_result: MakeResult) -> None:
    record(redis, make_result(ttft_ms=300, total_ms=2_100, queued_ms=100), "pass", worker="w1")
    record(redis, make_result(ttft_ms=300, total_ms=1_100, queued_ms=100), "pass", worker="w1")
    record(redis, make_result(ttft_ms=300, total_ms=600, queued_ms=100, answer=5), "pass", worker="w2")

    figures = stats.read_worker_stats(redis, ["w1", "w2", "w3"])
    assert figures["w1"] == stats.WorkerStats(jobs=2, prompt_tokens=40, generated_tokens=80, busy_seconds=3.0)
    assert figures["w2"] == stats.WorkerStats(jobs=1, prompt_tokens=20, generated_tokens=35, busy_seconds=0.5)
    assert figures["w3"] == stats.WorkerStats()
    assert 0 < redis.ttl(keys.worker_stats_key("w1")) <= 3600


def test_stats_read_before_any_job_is_all_zeros(redis: fakeredis.FakeRedis) -> None:
    figures = stats.read_job_stats(redis)
    assert figures.jobs == 0
    assert figures.verdicts == {"pass": 0, "fail": 0, "unsure": 0}
    assert all(h.count == 0 and h.sum == 0 for h in figures.histograms)
