"""`/v1/chat/completions` and `/v1/models` on fakeredis with a scripted engine."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shared import keys
from shared.chat_api import ChatCompletionRequest
from shared.schemas import JobSpec
from tests.support.fake_engine import ScriptedEngine
from tests.unit.gateway.conftest import Harness

SCRIPT = ["Twelve ", "sevens", " are", " 84.", "</think>", "\n\n", "84"]


def in_background(call: Callable[[], object]) -> Callable[[], object]:
    """Run a blocking request in a thread; the returned function waits for its result."""
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(call()), daemon=True)
    thread.start()

    def wait() -> object:
        thread.join(10)
        assert result, "the request did not finish"
        return result[0]

    return wait


def serve_once_queued(harness: Harness, engine: ScriptedEngine) -> None:
    """Run the scripted worker (here, in the main thread: RQ installs signal handlers) once the
    request in the background has queued its job."""
    deadline = time.monotonic() + 10
    while harness.waiting() == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    harness.run_worker(engine)


def stream_payloads(client: TestClient, body: dict[str, object]) -> list[str]:
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        return [line[6:] for line in response.iter_lines() if line.startswith("data: ")]


def test_streaming_chunks_reasoning_then_content_then_usage(client: TestClient, harness: Harness) -> None:
    body = {
        "messages": [{"role": "user", "content": "What is 12 times 7?"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    wait = in_background(lambda: stream_payloads(client, body))
    serve_once_queued(harness, ScriptedEngine(SCRIPT))
    payloads = wait()
    assert isinstance(payloads, list)
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(p) for p in payloads[:-1]]
    assert {c["id"] for c in chunks} == {chunks[0]["id"]} and chunks[0]["id"].startswith("chatcmpl-")
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    reasoning = "".join(d.get("reasoning_content", "") for d in deltas)
    content = "".join(d.get("content", "") for d in deltas)
    assert (reasoning, content) == ("Twelve sevens are 84.", "84")
    final, usage = chunks[-2], chunks[-1]
    assert final["choices"][0]["finish_reason"] == "stop" and "usage" not in final
    assert final["check"]["verdict"] in ("pass", "unsure") and final["timings"]["predicted_n"] == 7
    assert usage["choices"] == [] and usage["usage"]["completion_tokens_details"]["reasoning_tokens"] == 5
    assert usage["usage"]["completion_tokens"] == 7


def test_non_streaming_completion(client: TestClient, harness: Harness) -> None:
    body = {"messages": [{"role": "user", "content": "12 times 7?"}]}
    wait = in_background(lambda: client.post("/v1/chat/completions", json=body))
    serve_once_queued(harness, ScriptedEngine(SCRIPT))
    response: Any = wait()
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "chat.completion" and body["model"] == harness.settings.served_model_name
    message = body["choices"][0]["message"]
    assert message == {
        "role": "assistant",
        "content": "84",
        "reasoning_content": "Twelve sevens are 84.",
        "reasoning": "Twelve sevens are 84.",
    }
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + 7
    assert body["thinkstream"]["dropped_messages"] == 0


@pytest.mark.parametrize(
    ("body", "param", "words"),
    [
        ({"messages": [{"role": "user", "content": "hi"}], "n": 2}, "n", "only n=1"),
        ({"messages": [{"role": "user", "content": "hi"}], "top_k": 2}, "top_k", "Extra inputs"),
        ({"messages": [], "max_tokens": 5}, "messages", "at least 1"),
        ({"messages": [{"role": "assistant", "content": "hi"}]}, "body", "last message must have role 'user'"),
        ({"messages": [{"role": "user", "content": "hi"}], "stop": ["a"] * 5}, "stop", "at most 4"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages.0", "needs 'tool_call_id'"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages.0.role", "'system', 'developer'"),
    ],
)
def test_bad_chat_requests_are_400_naming_the_field(
    client: TestClient, body: dict[str, object], param: str, words: str
) -> None:
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"].startswith(param)
    assert words in error["message"]


def test_unknown_model_is_404_and_models_lists_the_served_one(client: TestClient, harness: Harness) -> None:
    response = client.post(
        "/v1/chat/completions", json={"model": "gpt-4", "messages": [{"role": "user", "content": "x"}]}
    )
    assert response.status_code == 404 and response.json()["error"]["code"] == "model_not_found"
    harness.mark_worker_alive()
    models = client.get("/v1/models").json()
    assert [m["id"] for m in models["data"]] == [harness.settings.served_model_name]


def test_reasoning_budget_aliases() -> None:
    for name in ("max_reasoning_tokens", "thinking_budget_tokens", "thinking_token_budget", "reasoning_budget"):
        request = ChatCompletionRequest.model_validate({"messages": [{"role": "user", "content": "x"}], name: 12})
        assert request.job_request().max_reasoning_tokens == 12
    unbounded = ChatCompletionRequest.model_validate(
        {"messages": [{"role": "user", "content": "x"}], "reasoning_budget": -1}
    )
    # -1: no budget but max_tokens (it used to fall back to the server's default budget); the
    # job's plan turns it into max_tokens
    assert unbounded.job_request().max_reasoning_tokens == -1


def test_prior_reasoning_is_stripped_before_the_job(client: TestClient, harness: Harness) -> None:
    messages = [
        {"role": "developer", "content": "Be brief."},
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "<think>two and two</think>4", "reasoning_content": "two and two"},
        {"role": "user", "content": [{"type": "text", "text": "and 3+3?"}]},
    ]
    wait = in_background(lambda: stream_payloads(client, {"messages": messages, "stream": True}))
    serve_once_queued(harness, ScriptedEngine(SCRIPT))
    payloads = wait()
    assert isinstance(payloads, list)
    job_id = json.loads(payloads[0])["id"].removeprefix("chatcmpl-")
    spec = JobSpec.model_validate_json(harness.redis.hget(keys.job_key(job_id), "spec"))
    assert [(m.role, m.content) for m in spec.messages] == [
        ("system", "Be brief."),
        ("user", "2+2?"),
        ("assistant", "4"),
        ("user", "and 3+3?"),
    ]


def test_full_queue_is_429_with_retry_after_and_nothing_queued(client: TestClient, harness: Harness) -> None:
    harness.settings.max_queued_jobs = 2
    for _ in range(2):
        assert client.post("/v1/jobs", json={"prompt": "hi"}).status_code == 202
    response = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 429 and int(response.headers["Retry-After"]) > 0
    assert response.json()["error"]["code"] == "queue_full"
    assert harness.waiting() == 2


@pytest.mark.parametrize(("draining", "status"), [(False, "canceled"), (True, "queued")])
def test_a_stream_that_ends_early_cancels_its_job_unless_the_gateway_is_draining(
    client: TestClient, harness: Harness, draining: bool, status: str
) -> None:
    # While draining, the gateway itself may be what ended the stream: the job must go on.
    chat = harness.app.state.chat
    request = ChatCompletionRequest.model_validate({"messages": [{"role": "user", "content": "Hi"}], "stream": True})

    async def open_then_leave() -> str:
        job = await chat.start(request)
        stream = chat.stream(job, include_usage=False)
        await anext(stream)  # the role chunk
        if draining:
            harness.drain.start()
        await stream.aclose()
        return job.accepted.id

    job_id = client.portal.call(open_then_leave)  # type: ignore[union-attr]
    assert client.get(f"/v1/jobs/{job_id}").json()["status"] == status
