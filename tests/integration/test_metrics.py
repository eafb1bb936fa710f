"""`/metrics` and the JSON logs of a real stack: real redis-server, worker processes and model."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable

import httpx
import pytest
from httpx_sse import connect_sse
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis

from shared import keys
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

QUESTION = {"prompt": "What is 6 times 7?", "max_tokens": 48, "max_reasoning_tokens": 24}
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(stack: Stack) -> Samples:
    response = httpx.get(f"{stack.url}/metrics", timeout=10)
    assert response.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def eventually(check: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


def idle(samples: Samples) -> bool:
    """No job waiting, generating or being checked, so that figures move only for ours."""
    busy = sum(v for (name, _), v in samples.items() if name in ("thinkstream_queue_depth", "thinkstream_worker_busy"))
    return busy == 0


def test_metrics_count_a_real_job(stack: Stack) -> None:
    assert eventually(lambda: idle(scrape(stack)), timeout_s=60)
    before = scrape(stack)
    job = httpx.post(f"{stack.url}/v1/jobs", json=QUESTION, timeout=10).json()

    events, open_streams = [], None
    with httpx.Client(base_url=stack.url, timeout=60) as client, connect_sse(client, "GET", job["events_url"]) as sse:
        for item in sse.iter_sse():
            events.append(json.loads(item.data))
            if open_streams is None:
                open_streams = value(scrape(stack), "thinkstream_sse_clients", stream="jobs")
    assert events[-1]["type"] == "done"
    worker = next(e["worker"] for e in events if e["type"] == "started")
    verdict = next(e["report"]["verdict"] for e in events if e["type"] == "check")
    usage = events[-1]["result"]["usage"]

    after = scrape(stack)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert open_streams == 1
    assert grew("thinkstream_time_to_first_token_seconds_count") == 1
    assert grew("thinkstream_job_duration_seconds_count") == 1
    assert grew("thinkstream_check_verdicts_total", verdict=verdict) == 1
    assert grew("thinkstream_worker_jobs_total", worker=worker) == 1
    assert grew("thinkstream_tokens_total", kind="reasoning") == usage["reasoning_tokens"]
    assert grew("thinkstream_tokens_total", kind="answer") == usage["answer_tokens"]
    assert grew("thinkstream_worker_generated_tokens_total", worker=worker) == (
        usage["reasoning_tokens"] + usage["answer_tokens"]
    )
    for priority in ("high", "normal", "low"):
        labels = frozenset({("model", "SmolLM2-135M-Instruct.Q4_1"), ("priority", priority)})
        assert ("thinkstream_queue_depth", labels) in after
    assert value(after, "thinkstream_checks_queue_depth") == 0
    assert value(after, "thinkstream_workers", kind="inference") >= 1
    assert value(after, "thinkstream_worker_info", worker=worker, kind="inference", model="SmolLM2-135M-Instruct.Q4_1")
    assert value(after, "thinkstream_redis_up") == 1
    assert eventually(lambda: value(scrape(stack), "thinkstream_sse_clients", stream="jobs") == 0)


def test_metrics_sse_client_gone_is_no_longer_counted(stack: Stack) -> None:
    # A job that exists but is never queued: its stream stays open until the client leaves.
    job_id = uuid.uuid4().hex
    redis = Redis.from_url(stack.redis.url)
    redis.hset(keys.job_key(job_id), mapping={"status": "queued", "created_at": time.time()})
    redis.expire(keys.job_key(job_id), 60)
    with httpx.Client(base_url=stack.url, timeout=60) as client, client.stream("GET", f"/v1/jobs/{job_id}/events"):
        assert eventually(lambda: value(scrape(stack), "thinkstream_sse_clients", stream="jobs") == 1)
    # The client hung up mid-stream: the gateway notices and stops counting it.
    assert eventually(lambda: value(scrape(stack), "thinkstream_sse_clients", stream="jobs") == 0)
    redis.delete(keys.job_key(job_id))
    redis.close()


def test_logs_of_a_real_job_are_json_with_its_id(stack: Stack) -> None:
    job = httpx.post(f"{stack.url}/v1/jobs", json=QUESTION, timeout=10).json()
    with httpx.Client(base_url=stack.url, timeout=60) as client, connect_sse(client, "GET", job["events_url"]) as sse:
        for item in sse.iter_sse():
            if item.event in ("done", "error", "canceled"):
                break

    def job_lines(name: str) -> list[dict[str, object]]:
        parsed = [json.loads(line) for line in stack.log(name).splitlines() if line.startswith("{")]
        return [line for line in parsed if line.get("job_id") == job["id"]]

    # The post-processing worker logs its "Job OK" just after publishing `done`.
    assert eventually(lambda: any("Job OK" in str(line["message"]) for line in job_lines("postproc")))
    inference = job_lines("worker-0")
    assert any("Job OK" in str(line["message"]) for line in inference)
    assert all(line["worker"] for line in inference)
    access = [json.loads(line) for line in stack.log("gateway").splitlines() if line.startswith("{")]
    assert any(line.get("path") == "/v1/jobs" and line.get("status") == 202 for line in access)
