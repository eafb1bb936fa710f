from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from redis.exceptions import ConnectionError as RedisConnectionError

from services.gateway.metrics import GatewayMetrics
from services.runtime.heartbeat import Heartbeat
from services.runtime.load import LoadMeter
from shared import keys, stats
from shared.models import WorkerModel
from shared.schemas import CheckReport, InferenceResult, Timings, Usage
from tests.support.fake_engine import ScriptedEngine
from tests.unit.gateway.conftest import Harness

SCRIPT = ["Twelve ", "sevens", " are", " 84.", "</think>", "\n\n", "84"]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: TestClient) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def result(ttft_ms: float, total_ms: float, tokens: int) -> InferenceResult:
    return InferenceResult(
        finish_reason="stop",
        reasoning_end="model",
        usage=Usage(prompt_tokens=10, reasoning_tokens=tokens - 5, answer_tokens=5),
        timings=Timings(queued_ms=50, ttft_ms=ttft_ms, total_ms=total_ms, tokens_per_s=30.0),
    )


def alive(harness: Harness, worker_id: str, kind: str = "inference", model: str = "smol") -> None:
    harness.redis.zadd(keys.live_workers_key(kind), {worker_id: time.time()})
    harness.redis.hset(keys.worker_key(worker_id), mapping={"model": model, "pid": 1})


def test_metrics_render_recorded_jobs(client: TestClient, harness: Harness) -> None:
    alive(harness, "w1")
    for job in (result(ttft_ms=200, total_ms=3_000, tokens=40), result(ttft_ms=7_000, total_ms=20_000, tokens=60)):
        stats.record_job(harness.redis, worker_id="w1", result=job, report=CheckReport(verdict="pass"), ttl_s=60)
    stats.record_job(
        harness.redis, worker_id="w1", result=result(200, 1_000, 10), report=CheckReport(verdict="fail"), ttl_s=60
    )

    samples = scrape(client)
    ttft = "thinkstream_time_to_first_token_seconds"
    assert value(samples, f"{ttft}_count") == 3
    assert value(samples, f"{ttft}_sum") == pytest.approx(7.4)
    assert [value(samples, f"{ttft}_bucket", le=le) for le in ("0.1", "0.25", "5.0", "10.0", "+Inf")] == [0, 2, 2, 3, 3]
    assert value(samples, "thinkstream_check_verdicts_total", verdict="pass") == 2
    assert value(samples, "thinkstream_check_verdicts_total", verdict="fail") == 1
    assert value(samples, "thinkstream_check_verdicts_total", verdict="unsure") == 0
    assert value(samples, "thinkstream_tokens_total", kind="answer") == 15
    assert value(samples, "thinkstream_worker_jobs_total", worker="w1") == 3
    assert value(samples, "thinkstream_worker_generated_tokens_total", worker="w1") == 110
    assert value(samples, "thinkstream_worker_info", worker="w1", kind="inference", model="smol") == 1
    assert value(samples, "thinkstream_redis_up") == 1


def test_metrics_queue_depth_counts_waiting_jobs(client: TestClient) -> None:
    for _ in range(2):
        assert client.post("/v1/jobs", json={"prompt": "What is 2 + 2?"}).status_code == 202

    samples = scrape(client)
    pool = client.app.state.settings.served_model_name  # type: ignore[attr-defined]
    assert value(samples, "thinkstream_queue_depth", model=pool, priority="normal") == 2
    assert value(samples, "thinkstream_queue_depth", model=pool, priority="low") == 0
    assert value(samples, "thinkstream_checks_queue_depth") == 0
    assert value(samples, "thinkstream_jobs_running") == 0
    assert value(samples, "thinkstream_workers", kind="inference") == 0


def test_metrics_count_a_job_run_through_the_pipeline(client: TestClient, harness: Harness) -> None:
    job = client.post("/v1/jobs", json={"prompt": "What is 12 times 7?"}).json()
    harness.run_worker(ScriptedEngine(SCRIPT))
    alive(harness, "test-worker")

    view = client.get(f"/v1/jobs/{job['id']}").json()
    samples = scrape(client)
    assert value(samples, "thinkstream_time_to_first_token_seconds_count") == 1
    assert value(samples, "thinkstream_time_to_first_token_seconds_sum") == pytest.approx(
        view["timings"]["ttft_ms"] / 1000
    )
    assert value(samples, "thinkstream_check_verdicts_total", verdict=view["checks"]["verdict"]) == 1
    assert value(samples, "thinkstream_jobs_finished_total", finish_reason="stop") == 1
    assert value(samples, "thinkstream_worker_jobs_total", worker="test-worker") == 1
    assert value(samples, "thinkstream_worker_generated_tokens_total", worker="test-worker") == 7
    assert value(samples, "thinkstream_jobs_running") == 0
    assert value(samples, "thinkstream_worker_busy", worker="test-worker", kind="inference") == 0


def test_metrics_sse_clients_count_open_streams(client: TestClient, harness: Harness) -> None:
    job = client.post("/v1/jobs", json={"prompt": "What is 12 times 7?"}).json()
    harness.run_worker(ScriptedEngine(SCRIPT))
    metrics: GatewayMetrics = harness.app.state.metrics

    with metrics.sse_client("chat"):
        assert value(scrape(client), "thinkstream_sse_clients", stream="chat") == 1
    with client.stream("GET", job["events_url"]) as response:
        assert sum(1 for line in response.iter_lines() if line.startswith("event: done")) == 1
    samples = scrape(client)
    assert value(samples, "thinkstream_sse_clients", stream="chat") == 0
    assert value(samples, "thinkstream_sse_clients", stream="jobs") == 0


def test_metrics_answer_when_redis_is_down(
    client: TestClient, harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise RedisConnectionError("connection refused")

    monkeypatch.setattr(harness.redis, "zrangebyscore", refuse)
    samples = scrape(client)
    assert value(samples, "thinkstream_redis_up") == 0
    assert not any(name.startswith("thinkstream_queue") for name, _ in samples)


def test_metrics_report_each_workers_load_from_its_heartbeat(client: TestClient, harness: Harness) -> None:
    meter = LoadMeter(slots=4, window_s=5)
    declared = WorkerModel(name="smol", file="/models/smol.gguf", n_ctx=64)
    beat = Heartbeat(
        harness.redis,
        kind="inference",
        worker_id="w-batch",
        info={"model": "smol", "declaration": declared.model_dump_json()},
        interval_s=60,
        ttl_s=10,
        load=meter,
    )
    alive(harness, "w-old")  # a worker of a version that reports no load
    with meter.job(), meter.job(), meter.job():
        meter.generated(300)
        beat.beat()

    samples = scrape(client)
    assert value(samples, "thinkstream_worker_slots", worker="w-batch", model="smol") == 4
    assert value(samples, "thinkstream_worker_slots_busy", worker="w-batch", model="smol") == 3
    assert value(samples, "thinkstream_worker_tokens_per_second", worker="w-batch", model="smol") > 0
    assert ("thinkstream_worker_slots", frozenset({("worker", "w-old"), ("model", "smol")})) not in samples


def test_metrics_declare_each_family_once(client: TestClient, harness: Harness) -> None:
    """Prometheus refuses a scrape that declares a metric twice."""
    alive(harness, "w1")
    declared = [line.split()[2] for line in client.get("/metrics").text.splitlines() if line.startswith("# TYPE")]
    assert sorted(declared) == sorted(set(declared))
