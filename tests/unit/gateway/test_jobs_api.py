from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence

import pytest
from fastapi.testclient import TestClient

from services.gateway.jobs import INLINE_FIT_CHARS
from shared import keys
from shared.schemas import ChatMessage
from tests.support.fake_engine import ScriptedEngine
from tests.unit.gateway.conftest import Harness, WordCounter

SCRIPT = ["Twelve ", "sevens", " are", " 84.", "</think>", "\n\n", "84"]


def read_sse(client: TestClient, url: str, headers: dict[str, str] | None = None) -> list[dict[str, object]]:
    events, current = [], {}
    with client.stream("GET", url, headers=headers or {}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if not line:
                if current:
                    events.append(current)
                current = {}
            elif line.startswith(("id:", "event:", "data:")):
                key, _, value = line.partition(":")
                current[key] = value.strip()
    return events


def submit(client: TestClient, **body: object) -> dict[str, object]:
    response = client.post("/v1/jobs", json=body or {"prompt": "What is 12 times 7?"})
    assert response.status_code == 202, response.text
    return response.json()


def test_jobs_submit_returns_id_and_events_url(client: TestClient) -> None:
    job = submit(client)
    assert job["status"] == "queued"
    assert job["events_url"] == f"/v1/jobs/{job['id']}/events"
    assert job["queue_position"] == 0
    assert client.get(f"/v1/jobs/{job['id']}").json()["status"] == "queued"


def test_jobs_full_flow_streams_events_in_order(client: TestClient, harness: Harness) -> None:
    job = submit(client)
    harness.run_worker(ScriptedEngine(SCRIPT))
    events = read_sse(client, job["events_url"])
    types = [e["event"] for e in events]
    assert types[:2] == ["queued", "started"]
    assert types[-2:] == ["check", "done"]
    assert set(types[2:-2]) == {"reasoning", "answer"}
    assert [int(e["id"]) for e in events] == list(range(1, len(events) + 1))
    datas = [json.loads(e["data"]) for e in events]
    reasoning = "".join(d["text"] for d in datas if d["type"] == "reasoning")
    answer = "".join(d["text"] for d in datas if d["type"] == "answer")
    view = client.get(f"/v1/jobs/{job['id']}").json()
    assert (view["reasoning"], view["answer"]) == (reasoning, answer) == ("Twelve sevens are 84.", "84")
    assert view["status"] == "succeeded"
    assert view["finish_reason"] == "stop"
    assert view["usage"]["reasoning_tokens"] == 5 and view["usage"]["answer_tokens"] == 2
    assert view["checks"]["verdict"] in ("pass", "unsure")
    assert view["timings"]["total_ms"] >= view["timings"]["ttft_ms"] > 0


def test_jobs_events_resume_after_last_event_id(client: TestClient, harness: Harness) -> None:
    job = submit(client)
    harness.run_worker(ScriptedEngine(SCRIPT))
    everything = read_sse(client, job["events_url"])
    rest = read_sse(client, job["events_url"], headers={"Last-Event-ID": "3"})
    assert rest == everything[3:]
    assert read_sse(client, job["events_url"] + "?after=5") == everything[5:]


def test_jobs_failed_generation_ends_with_error_event(client: TestClient, harness: Harness) -> None:
    class Broken(ScriptedEngine):
        def stream(self, tokens, sampling):  # type: ignore[no-untyped-def]
            yield 1, b"start"
            raise RuntimeError("decode failed")

    job = submit(client)
    harness.run_worker(Broken())
    events = read_sse(client, job["events_url"])
    assert events[-1]["event"] == "error"
    assert "decode failed" in json.loads(events[-1]["data"])["message"]
    assert client.get(f"/v1/jobs/{job['id']}").json()["status"] == "failed"


def test_jobs_cancel_queued_job_never_runs(client: TestClient, harness: Harness) -> None:
    job = submit(client)
    response = client.delete(f"/v1/jobs/{job['id']}")
    assert response.status_code == 202 and response.json()["status"] == "canceled"
    engine = ScriptedEngine(SCRIPT)
    harness.run_worker(engine)
    assert engine.calls == []
    assert [e["event"] for e in read_sse(client, job["events_url"])] == ["queued", "canceled"]


def test_jobs_cancel_running_job_stops_generation(client: TestClient, harness: Harness) -> None:
    job = submit(client)
    harness.redis.hset(keys.job_key(job["id"]), "status", "running")  # as if a worker had it
    assert client.delete(f"/v1/jobs/{job['id']}").json()["status"] == "running"
    harness.redis.hset(keys.job_key(job["id"]), "status", "queued")
    engine = ScriptedEngine([f"word{i} " for i in range(30)])
    harness.run_worker(engine)
    assert [e["event"] for e in read_sse(client, job["events_url"])][-1] == "canceled"


@pytest.mark.parametrize(
    ("body", "where"),
    [
        pytest.param({}, "prompt", id="missing-prompt"),
        pytest.param({"prompt": "   "}, "empty", id="blank-prompt"),
        pytest.param({"prompt": 42}, "prompt", id="prompt-not-a-string"),
        pytest.param({"prompt": "hi", "messages": [{"role": "user", "content": "hi"}]}, "exactly one", id="both"),
        pytest.param({"messages": []}, "at least one", id="no-messages"),
        pytest.param({"messages": [{"role": "robot", "content": "hi"}]}, "role", id="bad-role"),
        pytest.param(
            {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]},
            "last message",
            id="last-not-user",
        ),
        pytest.param({"prompt": "hi", "max_tokens": 0}, "max_tokens", id="max-tokens-zero"),
        pytest.param({"prompt": "hi", "temperature": 9}, "temperature", id="temperature-high"),
        pytest.param({"prompt": "hi", "seed": -1}, "seed", id="negative-seed"),
        pytest.param({"prompt": "hi", "colour": "red"}, "colour", id="unknown-field"),
    ],
)
def test_jobs_bad_input_is_422_with_a_message(client: TestClient, body: dict[str, object], where: str) -> None:
    response = client.post("/v1/jobs", json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert where in error["message"]
    assert error["code"] == "invalid_request"


def test_jobs_body_that_is_not_json_is_422(client: TestClient) -> None:
    response = client.post("/v1/jobs", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert "JSON" in response.json()["error"]["message"]


def test_jobs_prompt_too_long_is_413_with_counts(client: TestClient) -> None:
    response = client.post("/v1/jobs", json={"prompt": "word " * 100})
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["prompt_tokens"] == 104 and error["n_ctx"] == 64
    assert "104 tokens" in error["message"] and "at most" in error["message"]


def test_jobs_max_tokens_that_leaves_no_room_is_413(client: TestClient) -> None:
    response = client.post("/v1/jobs", json={"prompt": "short question", "max_tokens": 60})
    assert response.status_code == 413
    assert response.json()["error"]["max_prompt_tokens"] == 4


def test_jobs_unknown_id_is_404(client: TestClient) -> None:
    missing = "0" * 32
    for response in (
        client.get(f"/v1/jobs/{missing}"),
        client.get(f"/v1/jobs/{missing}/events"),
        client.get(f"/v1/jobs/{missing}/events", params={"after": "x"}),  # no such job, whatever the cursor
        client.delete(f"/v1/jobs/{missing}"),
    ):
        assert response.status_code == 404
        assert "no job" in response.json()["error"]["message"]


def test_health_and_readiness(client: TestClient, harness: Harness) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    not_ready = client.get("/readyz")
    assert not_ready.status_code == 503 and "no live inference worker" in not_ready.json()["reason"]
    harness.mark_worker_alive()
    assert client.get("/readyz").status_code == 200


def test_openapi_docs_are_served(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/jobs", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/events"} <= set(paths)


def test_jobs_resuming_a_finished_stream_at_its_end_answers_204(client: TestClient, harness: Harness) -> None:
    job = submit(client)
    harness.run_worker(ScriptedEngine(SCRIPT))
    last = len(read_sse(client, job["events_url"]))
    response = client.get(job["events_url"], headers={"Last-Event-ID": str(last)})
    assert response.status_code == 204 and response.content == b""
    assert client.get(job["events_url"], params={"after": last + 5}).status_code == 204
    tail = read_sse(client, job["events_url"], headers={"Last-Event-ID": str(last - 1)})
    assert [e["event"] for e in tail] == ["done"]


def test_jobs_a_cursor_past_int64_or_not_a_number_is_a_400(client: TestClient) -> None:
    job = submit(client)
    for headers, params in (({"Last-Event-ID": str(2**64)}, {}), ({}, {"after": "-1"}), ({"Last-Event-ID": "x"}, {})):
        response = client.get(job["events_url"], headers=headers, params=params)
        assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_cursor"


class ThreadNotingCounter(WordCounter):
    """Counts as WordCounter, noting which thread counted (n_ctx large enough for a long prompt)."""

    n_ctx = 4096

    def __init__(self) -> None:
        self.threads: list[str] = []

    def count(self, messages: Sequence[ChatMessage]) -> int:
        self.threads.append(threading.current_thread().name)
        return super().count(messages)


def test_jobs_a_long_prompt_is_counted_off_the_event_loop_a_short_one_on_it(
    make_harness: Callable[..., Harness],
) -> None:
    """Tokenizing a long prompt must not hold up the gateway's other requests and streams; a
    short one is counted at once (the hop to a thread costs more than its count)."""
    counter = ThreadNotingCounter()
    harness = make_harness(counter=counter)
    with TestClient(harness.app) as client:
        short = client.post("/v1/jobs", json={"prompt": "What is 2 + 2?", "max_tokens": 8})
        loop_thread = counter.threads[-1]
        long = client.post("/v1/jobs", json={"prompt": "word " * (INLINE_FIT_CHARS // 4), "max_tokens": 8})
        long_thread = counter.threads[-1]
    assert short.status_code == long.status_code == 202, (short.text, long.text)
    assert long_thread != loop_thread
