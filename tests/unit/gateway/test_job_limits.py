"""Deadlines and cancellation as a worker applies them (fakeredis, scripted engine)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack

from fastapi.testclient import TestClient

from services.inference.engine import Sampling
from services.runtime.load import LoadMeter
from shared import keys
from tests.support.fake_engine import ScriptedEngine
from tests.unit.gateway.conftest import Harness
from tests.unit.gateway.test_jobs_api import SCRIPT, read_sse, submit


class SlowEngine(ScriptedEngine):
    """One word every 20 ms; cancels the job itself after `cancel_after` tokens if asked to."""

    def __init__(self, harness: Harness, words: int, cancel_after: int | None = None) -> None:
        super().__init__([f"w{i} " for i in range(words)])
        self.harness = harness
        self.cancel_after = cancel_after
        self.yielded = 0
        self.job_id = ""

    def stream(self, tokens: Sequence[int], sampling: Sampling) -> Iterator[tuple[int, str]]:
        for token, text in super().stream(tokens, sampling):
            if self.cancel_after is not None and self.yielded == self.cancel_after:
                self.harness.redis.set(keys.job_cancel_key(self.job_id), 1)
            self.yielded += 1
            time.sleep(0.02)
            yield token, text


def test_cancel_is_seen_at_the_next_flush(client: TestClient, harness: Harness) -> None:
    """The append that sends a flush's text reports the cancel: the job stops there, a flush
    interval (here 100 ms, five 20 ms tokens) after the flag at most, not at the end."""
    harness.settings.stream_flush_ms = 100
    job = submit(client)
    engine = SlowEngine(harness, words=40, cancel_after=5)
    engine.job_id = job["id"]
    harness.run_worker(engine)
    assert 6 <= engine.yielded <= 5 + 5 + 1
    assert [e["event"] for e in read_sse(client, job["events_url"])][-1] == "canceled"


def test_generation_past_its_time_limit_ends_with_an_error(client: TestClient, harness: Harness) -> None:
    harness.settings.max_generation_s = 0.2
    job = submit(client)
    engine = SlowEngine(harness, words=200)
    harness.run_worker(engine)
    events = read_sse(client, job["events_url"])
    last = json.loads(events[-1]["data"])
    assert last["type"] == "error" and last["code"] == "deadline_exceeded"
    assert "THINKSTREAM_MAX_GENERATION_S" in last["message"]
    assert engine.yielded < 50
    assert any(e["event"] == "reasoning" for e in events)  # what was generated stays visible
    assert client.get(f"/v1/jobs/{job['id']}").json()["status"] == "failed"


def test_job_that_waited_too_long_never_runs(client: TestClient, harness: Harness) -> None:
    harness.settings.max_queue_wait_s = 0.05
    job = submit(client)
    time.sleep(0.1)
    engine = ScriptedEngine(SCRIPT)
    harness.run_worker(engine)
    assert engine.calls == []
    last = json.loads(read_sse(client, job["events_url"])[-1]["data"])
    assert last["type"] == "error" and last["code"] == "queue_timeout"
    assert "THINKSTREAM_MAX_QUEUE_WAIT_S" in last["message"]


def test_batch_items_may_wait_past_the_queue_limit(client: TestClient, harness: Harness) -> None:
    harness.settings.max_queue_wait_s = 0.05
    response = client.post(
        "/v1/batches",
        content=b'{"custom_id": "a", "question": "What is 2 + 2?"}\n',
        headers={"content-type": "application/x-ndjson"},
    )
    assert response.status_code in (200, 201, 202), response.text
    time.sleep(0.1)
    engine = ScriptedEngine(SCRIPT)
    harness.run_worker(engine)
    assert len(engine.calls) == 1  # a batch item is not timed out by the interactive limit


def _events_streamed(client: TestClient, harness: Harness, busy_elsewhere: int) -> tuple[int, str]:
    """Run one job of 40 tokens (20 ms each) on a worker with `busy_elsewhere` other jobs in its
    slots; returns how many text events it sent and their text."""
    load = LoadMeter(slots=busy_elsewhere + 1, window_s=5)
    job = submit(client, prompt="Count.", max_tokens=56, max_reasoning_tokens=48)
    with ExitStack() as others:
        for _ in range(busy_elsewhere):
            others.enter_context(load.job())
        harness.run_worker(SlowEngine(harness, words=40), load=load, n_ctx=1024)
    texts = [json.loads(e["data"])["text"] for e in read_sse(client, job["events_url"]) if e["event"] == "reasoning"]
    texts += [json.loads(e["data"])["text"] for e in read_sse(client, job["events_url"]) if e["event"] == "answer"]
    return len(texts), "".join(texts)


def test_a_worker_running_more_jobs_sends_each_one_in_fewer_larger_events(client: TestClient, harness: Harness) -> None:
    harness.settings.stream_flush_ms = 50
    alone, alone_text = _events_streamed(client, harness, busy_elsewhere=0)
    shared, shared_text = _events_streamed(client, harness, busy_elsewhere=3)
    assert shared_text == alone_text and "w39" in alone_text  # every token arrives either way
    # 40 tokens over 0.8 s: an event per 50 ms alone, per 200 ms beside three other jobs.
    assert alone >= 10
    assert shared <= alone / 2
