"""Retry-After for a full queue follows the workers' pace."""

from __future__ import annotations

import time

import fakeredis
from fastapi.testclient import TestClient

from services.gateway.backpressure import FALLBACK_S, MAX_S, retry_after_s
from shared import keys, stats
from shared.schemas import CheckReport, InferenceResult, Timings, Usage
from tests.unit.gateway.conftest import Harness


def finish_jobs(redis: fakeredis.FakeRedis, *, generation_s: float, count: int = 4) -> None:
    """`count` jobs that each waited 3 s and then took `generation_s` on a worker."""
    for _ in range(count):
        timings = Timings(queued_ms=3000.0, ttft_ms=3100.0, total_ms=3000.0 + generation_s * 1000, tokens_per_s=50.0)
        result = InferenceResult(
            finish_reason="stop", reasoning_end="model", usage=Usage(prompt_tokens=9, answer_tokens=5), timings=timings
        )
        stats.record_job(redis, worker_id="w1", result=result, report=CheckReport(verdict="pass"), ttl_s=60)


def alive(redis: fakeredis.FakeRedis, *workers: str) -> None:
    redis.zadd(keys.live_workers_key("inference"), dict.fromkeys(workers, time.time()))


def test_retry_after_is_the_time_for_the_live_workers_to_make_room() -> None:
    redis = fakeredis.FakeRedis()
    assert retry_after_s(redis, excess=1, worker_ttl_s=10) == FALLBACK_S  # no job finished yet
    finish_jobs(redis, generation_s=8.0)
    assert retry_after_s(redis, excess=1, worker_ttl_s=10) == FALLBACK_S  # no live worker
    alive(redis, "w1", "w2")
    assert retry_after_s(redis, excess=1, worker_ttl_s=10) == 4  # 8 s a job, two at a time; not the 3 s wait
    assert retry_after_s(redis, excess=3, worker_ttl_s=10) == 12
    assert retry_after_s(redis, excess=100, worker_ttl_s=10) == MAX_S
    redis.zadd(keys.live_workers_key("inference"), {"w2": time.time() - 60})  # w2 stopped beating
    assert retry_after_s(redis, excess=1, worker_ttl_s=10) == 8


def test_a_full_queue_tells_the_client_when_to_come_back(client: TestClient, harness: Harness) -> None:
    harness.settings.max_queued_jobs = 1
    finish_jobs(harness.redis, generation_s=0.2)
    alive(harness.redis, "w1")
    assert client.post("/v1/jobs", json={"prompt": "hi"}).status_code == 202
    refused = client.post("/v1/jobs", json={"prompt": "hi"})
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    assert "retry in 1 s" in refused.json()["error"]["message"]
