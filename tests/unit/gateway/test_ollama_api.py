"""Ollama's API on fakeredis with a scripted engine: shapes, the mapping onto jobs, refusals."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shared import keys
from shared.apikeys import key_entry, new_key
from shared.schemas import JobSpec
from tests.support.fake_engine import ScriptedEngine
from tests.unit.gateway.conftest import Harness
from tests.unit.gateway.test_chat_api import in_background, serve_once_queued

SCRIPT = ["Twelve ", "sevens", " are", " 84.", "</think>", "\n\n", "84"]


@pytest.fixture
def harness(make_harness: Any) -> Harness:
    harness: Harness = make_harness(model_name="fake")
    return harness


def chat_body(**extra: Any) -> dict[str, Any]:
    return {"model": "fake", "messages": [{"role": "user", "content": "What is 12 times 7?"}], **extra}


def ndjson(client: TestClient, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    with client.stream("POST", path, json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/x-ndjson")
        return [json.loads(line) for line in response.iter_lines() if line]


def spec_of(harness: Harness, job_id: str) -> JobSpec:
    return JobSpec.model_validate_json(harness.redis.hget(keys.job_key(job_id), "spec"))


def test_ollama_chat_streams_thinking_then_content_then_done(client: TestClient, harness: Harness) -> None:
    wait = in_background(lambda: ndjson(client, "/api/chat", chat_body()))
    serve_once_queued(harness, ScriptedEngine(SCRIPT))
    lines = wait()
    assert isinstance(lines, list)
    assert all(line["model"] == "fake" and line["created_at"].endswith("Z") for line in lines)
    assert [line["done"] for line in lines] == [False] * (len(lines) - 1) + [True]
    thinking = "".join(line["message"].get("thinking", "") for line in lines)
    content = "".join(line["message"]["content"] for line in lines)
    assert (thinking, content) == ("Twelve sevens are 84.", "84")
    last = lines[-1]
    assert last["done_reason"] == "stop" and last["eval_count"] == len(SCRIPT)
    assert last["total_duration"] > 0 and last["prompt_eval_count"] > 0


def test_ollama_generate_not_streaming(client: TestClient, harness: Harness) -> None:
    body = {"model": "fake:latest", "prompt": "What is 12 times 7?", "system": "Be brief.", "stream": False}
    wait = in_background(lambda: client.post("/api/generate", json=body))
    serve_once_queued(harness, ScriptedEngine(SCRIPT))
    response = wait()
    reply = response.json()  # type: ignore[attr-defined]
    assert reply["model"] == "fake:latest" and reply["done"] is True
    assert (reply["thinking"], reply["response"]) == ("Twelve sevens are 84.", "84")
    spec = spec_of(harness, response.headers["x-thinkstream-job"])  # type: ignore[attr-defined]
    assert [m.role for m in spec.messages] == ["system", "user"]


@pytest.mark.parametrize(
    ("fields", "budget", "max_tokens"),
    [
        ({"think": False}, 0, None),
        ({"think": True, "stream": False}, 768, None),
        ({"think": "low"}, 256, None),
        ({"think": "max", "options": {"num_predict": 40}}, 40, 40),
        ({"options": {"num_predict": 30, "temperature": 0.5, "seed": 7, "stop": ["\n\n"]}}, None, 30),
    ],
)
def test_ollama_think_and_options_reach_the_job(
    client: TestClient, harness: Harness, fields: dict[str, Any], budget: int | None, max_tokens: int | None
) -> None:
    body = chat_body(**fields)
    wait = in_background(lambda: client.post("/api/chat", json=body))
    serve_once_queued(harness, ScriptedEngine(SCRIPT))
    response = wait()
    spec = spec_of(harness, response.headers["x-thinkstream-job"])  # type: ignore[attr-defined]
    if budget is not None:
        assert spec.max_reasoning_tokens == budget
    if max_tokens is not None:
        assert spec.max_tokens == max_tokens
    if "options" in fields and "temperature" in fields["options"]:
        assert (spec.params.temperature, spec.params.seed, spec.params.stop) == (0.5, 7, ["\n\n"])


@pytest.mark.parametrize(
    ("path", "body", "status", "words"),
    [
        ("/api/chat", chat_body(model="llama3.2"), 404, "model 'llama3.2' not found"),
        ("/api/chat", chat_body(format="json"), 400, "format"),
        ("/api/chat", chat_body(options={"top_k": 20}), 400, "options.top_k"),
        ("/api/chat", chat_body(tools=[{"type": "function", "function": {"name": "f"}}]), 400, "tools"),
        ("/api/chat", {"model": "fake", "messages": [{"role": "robot", "content": "hi"}]}, 400, "messages.0.role"),
        ("/api/generate", {"model": "fake", "prompt": "hi", "raw": True}, 400, "raw"),
        ("/api/show", {"model": "nope"}, 404, "not found"),
    ],
)
def test_ollama_refusals_have_ollamas_shape(
    client: TestClient, path: str, body: dict[str, Any], status: int, words: str
) -> None:
    response = client.post(path, json=body)
    assert response.status_code == status
    error = response.json()["error"]
    assert isinstance(error, str) and words in error


def test_ollama_sampling_options_at_their_neutral_value_are_accepted(client: TestClient, harness: Harness) -> None:
    body = chat_body(stream=False, options={"top_k": 0, "repeat_penalty": 1.0, "num_ctx": 8192, "repeat_last_n": 64})
    wait = in_background(lambda: client.post("/api/chat", json=body))
    serve_once_queued(harness, ScriptedEngine(SCRIPT))
    assert wait().status_code == 200  # type: ignore[attr-defined]


def test_ollama_empty_chat_loads_the_model(client: TestClient) -> None:
    reply = client.post("/api/chat", json={"model": "fake", "messages": []}).json()
    assert (reply["done"], reply["done_reason"], reply["message"]["role"]) == (True, "load", "assistant")


def test_ollama_tags_show_version(client: TestClient) -> None:
    models = client.get("/api/tags").json()["models"]
    assert [m["name"] for m in models] == ["fake:latest"]
    assert models[0]["details"]["format"] == "gguf" and models[0]["size"] > 0
    shown = client.post("/api/show", json={"model": "fake:latest"}).json()
    assert "thinking" in shown["capabilities"] and shown["model_info"]["general.context_length"] == 64
    assert client.get("/api/version").json()["version"]


def test_ollama_routes_need_the_key_and_refuse_in_ollamas_shape(make_harness: Any) -> None:
    key = new_key()
    harness = make_harness(api_key_hashes=key_entry("alice", key), model_name="fake")
    with TestClient(harness.app) as client:
        refused = client.get("/api/tags")
        assert refused.status_code == 401 and "API key" in refused.json()["error"]
        assert client.get("/api/tags", headers={"Authorization": f"Bearer {key}"}).status_code == 200
