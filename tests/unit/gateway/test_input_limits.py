"""Odd input gets a 4xx that says what to fix, never a 5xx: NUL characters, lone surrogates,
huge numbers, deep nesting; RTL marks and emoji are just text; a typed `</think>` is text too."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from shared import keys
from shared.schemas import JobSpec
from tests.support.fake_engine import ScriptedEngine
from tests.unit.gateway.conftest import Harness

JSON = {"content-type": "application/json"}
SCRIPT = ["Twelve ", "sevens", " are", " 84.", "</think>", "\n\n", "84"]


def post_raw(client: TestClient, path: str, body: str) -> object:
    """Send JSON text as is: escapes such as \\ud800 reach the server's JSON parser unchanged."""
    return client.post(path, content=body.encode("utf-8"), headers=JSON)


def chat(content: str) -> str:
    return '{"messages": [{"role": "user", "content": "' + content + '"}]}'


def spec_of(harness: Harness, job_id: str) -> JobSpec:
    return JobSpec.model_validate_json(harness.redis.hget(keys.job_key(job_id), "spec"))


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("/v1/jobs", '{"prompt": "a\\u0000b"}', 422, "prompt"),
        ("/v1/jobs", '{"messages": [{"role": "user", "content": "\\u0000"}]}', 422, "messages.0.content"),
        ("/v1/jobs", '{"prompt": "a", "stop": ["x\\u0000"]}', 422, "stop.0"),
        ("/v1/chat/completions", chat("two\\u0000words"), 400, "messages.0.content"),
        (
            "/v1/chat/completions",
            '{"messages": [{"role": "user", "content": [{"type": "text", "text": "a\\u0000"}]}]}',
            400,
            "messages.0.content",
        ),
        ("/v1/chat/completions", '{"messages": [{"role": "user", "content": "a"}], "stop": "\\u0000"}', 400, "stop.0"),
    ],
    ids=["prompt", "message", "stop", "chat", "chat-parts", "chat-stop"],
)
def test_input_nul_is_refused_naming_the_field(
    client: TestClient, path: str, body: str, status: int, field: str
) -> None:
    response = post_raw(client, path, body)
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    message = response.json()["error"]["message"]  # type: ignore[attr-defined]
    assert message.startswith(f"{field}: contains a NUL character") and "remove it" in message


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("/v1/jobs", '{"prompt": "a\\ud800b"}', 422, "prompt"),
        ("/v1/jobs", '{"messages": [{"role": "user", "content": "\\udfff"}]}', 422, "messages.0.content"),
        ("/v1/chat/completions", chat("\\udc00 trailing"), 400, "messages.0.content"),
    ],
)
def test_input_lone_surrogate_is_refused_naming_the_field(
    client: TestClient, path: str, body: str, status: int, field: str
) -> None:
    response = post_raw(client, path, body)
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.json()["error"]["message"].startswith(f"{field}")  # type: ignore[attr-defined]
    assert "unicode" in response.json()["error"]["message"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/jobs", '{"prompt": "hi", "\\ud800": 1}'),
        ("/v1/chat/completions", '{"model": "\\ud800", "messages": [{"role": "user", "content": "a"}]}'),
        ("/v1/jobs", '{"prompt": "x", "max_tokens": 1' + "0" * 5000 + "}"),
        ("/v1/jobs", '{"prompt": "x", "temperature": NaN}'),
        ("/v1/jobs", '{"prompt": "x", "top_p": Infinity}'),
        ("/v1/jobs", "[" * 100_000 + "]" * 100_000),
        ("/v1/jobs", '{"prompt": '),
        ("/v1/jobs", '"just a string"'),
        ("/v1/jobs", "\xff\xfe"),
        ("/v1/chat/completions", '{"messages": [{"role": "user", "content": "a"}], "seed": 1e400}'),
        ("/v1/jobs", json.dumps({"messages": [{"role": "user", "content": "a"}] * 257})),
    ],
    ids=[
        "surrogate-key",
        "surrogate-model",
        "huge-int",
        "nan",
        "infinity",
        "deep",
        "truncated",
        "not-object",
        "not-utf8",
        "overflow",
        "too-many-messages",
    ],
)
def test_input_odd_json_is_a_client_error(client: TestClient, path: str, body: str) -> None:
    response = client.post(path, content=body.encode("utf-8", "surrogatepass"), headers=JSON)
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"]["message"]


def test_input_rtl_marks_zero_width_and_emoji_are_just_text(client: TestClient, harness: Harness) -> None:
    text = "\u202eabc\u202c \u200f\u05e9\u05dc\u05d5\u05dd\u200e \u200b\ufeff 👩‍👩‍👧 🇫🇷 e\u0301"
    job = client.post("/v1/jobs", json={"prompt": text, "stop": ["\u200f"]})
    assert job.status_code == 202, job.text
    spec = spec_of(harness, job.json()["id"])
    assert spec.messages[-1].content == text and spec.params.stop == ["\u200f"]


def test_input_typed_think_tags_reach_the_model_and_leave_the_split_alone(client: TestClient, harness: Harness) -> None:
    """The reasoning split reads the model's output only: a question full of tags changes nothing."""
    prompt = "Is </think> a tag? <think>What is 12 times 7?</think>"
    job = client.post("/v1/jobs", json={"prompt": prompt}).json()
    engine = ScriptedEngine(SCRIPT)
    harness.run_worker(engine)
    assert "".join(map(chr, engine.calls[0])) == prompt[:64], "the scripted engine's prompt is the text"
    view = client.get(f"/v1/jobs/{job['id']}").json()
    assert (view["reasoning"], view["answer"]) == ("Twelve sevens are 84.", "84")
    assert spec_of(harness, job["id"]).messages[-1].content == prompt


@pytest.mark.parametrize(
    "body",
    ['{"prompt": "x", "max_tokens": 1' + "0" * 5000 + "}", "[" * 100_000 + "]" * 100_000],
    ids=["digits", "deep"],
)
def test_input_unreadable_json_says_what_to_send(client: TestClient, body: str) -> None:
    response = client.post("/v1/jobs", content=body.encode(), headers=JSON)
    assert response.status_code == 400
    assert "send well-formed JSON in UTF-8" in response.json()["error"]["message"]
