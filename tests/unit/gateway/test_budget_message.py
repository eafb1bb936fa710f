"""The budget message: which one a job gets, that the worker writes it into the reasoning the
clients see and the model reads, and refusals of bad ones."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.gateway.budget_message import mostly_han
from services.inference.generation import BUDGET_MESSAGE_SEPARATOR, FORCED_CLOSE
from shared import keys
from shared.schemas import JobSpec
from shared.settings import Settings
from tests.support.fake_engine import ScriptedEngine
from tests.unit.gateway.conftest import Harness
from tests.unit.gateway.test_chat_api import in_background, serve_once_queued, stream_payloads
from tests.unit.gateway.test_jobs_api import submit

DEFAULTS = Settings.model_fields
ENGLISH = DEFAULTS["thinking_budget_message"].default
CHINESE = DEFAULTS["thinking_budget_message_zh"].default
WORKER_CTX = 512
"""Room for the scripted engine's prompt and the message at a token per character."""


def budget_scripts() -> ScriptedEngine:
    """Reasons past a 2-token budget; after the close, answers."""
    return ScriptedEngine(["Twelve ", "sevens", " are", " 84."], ["84"])


def closing_tokens(engine: ScriptedEngine, message: str) -> list[int]:
    text = BUDGET_MESSAGE_SEPARATOR + message if message else ""
    return engine.text_tokens(text) + engine.tokenize(FORCED_CLOSE)


def spec_of(harness: Harness, job_id: str) -> JobSpec:
    return JobSpec.model_validate_json(harness.redis.hget(keys.job_key(job_id), "spec"))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        pytest.param({"prompt": "What is 12 times 7?"}, ENGLISH, id="default"),
        pytest.param({"prompt": "12乘以7等于多少？"}, CHINESE, id="chinese-question"),
        pytest.param({"prompt": "计算 12 x 7 的结果"}, CHINESE, id="chinese-with-numbers"),
        pytest.param({"prompt": "12 x 7?", "thinking_budget_message": "  Answer now.  "}, "Answer now.", id="own"),
        pytest.param({"prompt": "12乘以7？", "thinking_budget_message": "Answer now."}, "Answer now.", id="own-wins"),
        pytest.param({"prompt": "12 x 7?", "thinking_budget_message": ""}, "", id="disabled"),
        pytest.param({"prompt": "12 x 7?", "thinking_budget_message": " \n"}, "", id="blank"),
    ],
)
def test_budget_message_ends_the_reasoning_the_model_answers_after(
    client: TestClient, harness: Harness, fields: dict[str, Any], message: str
) -> None:
    job = submit(client, max_reasoning_tokens=2, **fields)
    engine = budget_scripts()
    harness.run_worker(engine, n_ctx=WORKER_CTX)
    view = client.get(f"/v1/jobs/{job['id']}").json()
    expected = "Twelve sevens" + (BUDGET_MESSAGE_SEPARATOR + message if message else "")
    assert (view["reasoning"], view["answer"]) == (expected, "84")
    # The answer was generated after the generated reasoning, the message and the closing tag.
    closing = closing_tokens(engine, message)
    assert engine.calls[1][-len(closing) - 2 :] == [1000, 1001, *closing]
    assert view["usage"]["reasoning_tokens"] == 2  # the message is the worker's, not generated


def test_budget_message_default_is_the_setting(make_harness: Any) -> None:
    harness: Harness = make_harness(thinking_budget_message="Budget spent; concluding.")
    with TestClient(harness.app) as client:
        job = submit(client, prompt="What is 12 times 7?", max_reasoning_tokens=2)
        harness.run_worker(budget_scripts(), n_ctx=WORKER_CTX)
        events = client.get(f"/v1/jobs/{job['id']}/events").text
    reasoning = [json.loads(line[6:])["text"] for line in events.splitlines() if '"type":"reasoning"' in line]
    assert reasoning[-1].endswith(BUDGET_MESSAGE_SEPARATOR + "Budget spent; concluding.")


def test_budget_message_not_written_when_the_model_closes_or_stops_within_the_budget(
    client: TestClient, harness: Harness
) -> None:
    job = submit(client, prompt="12 x 7?", max_reasoning_tokens=50)
    harness.run_worker(ScriptedEngine(["Twelve ", "sevens"], ["84"]))  # ends its turn while reasoning
    view = client.get(f"/v1/jobs/{job['id']}").json()
    assert (view["reasoning"], view["answer"]) == ("Twelve sevens", "84")


def test_budget_message_on_a_streaming_chat_completion(client: TestClient, harness: Harness) -> None:
    body = {
        "messages": [{"role": "user", "content": "What is 12 times 7?"}],
        "stream": True,
        "max_reasoning_tokens": 2,
        "thinking_budget_message": "Out of budget.",
    }
    wait = in_background(lambda: stream_payloads(client, body))
    serve_once_queued(harness, budget_scripts())
    payloads = wait()
    assert isinstance(payloads, list)
    deltas = [json.loads(p)["choices"][0]["delta"] for p in payloads[:-1] if json.loads(p)["choices"]]
    for name in ("reasoning_content", "reasoning"):
        assert "".join(d.get(name, "") for d in deltas) == "Twelve sevens" + BUDGET_MESSAGE_SEPARATOR + "Out of budget."
    assert "".join(d.get("content", "") for d in deltas) == "84"


def test_budget_message_on_ollama_chat_reaches_the_job(client: TestClient, harness: Harness) -> None:
    body = {
        "model": harness.settings.served_model_name,
        "messages": [{"role": "user", "content": "12 x 7?"}],
        "stream": False,
        "thinking_budget_message": "Out of budget.",
    }
    wait = in_background(lambda: client.post("/api/chat", json=body))
    serve_once_queued(harness, budget_scripts())
    response: Any = wait()
    assert response.status_code == 200, response.text
    assert spec_of(harness, response.headers["x-thinkstream-job"]).thinking_budget_message == "Out of budget."


@pytest.mark.parametrize(
    ("value", "words"),
    [
        pytest.param("stop\x00now", "NUL", id="nul"),
        pytest.param("x" * 501, "at most 500 characters", id="too-long"),
        pytest.param(42, "valid string", id="not-a-string"),
    ],
)
def test_budget_message_refused_naming_the_field(client: TestClient, value: object, words: str) -> None:
    question = [{"role": "user", "content": "hi"}]
    jobs = client.post("/v1/jobs", json={"prompt": "hi", "thinking_budget_message": value})
    assert jobs.status_code == 422
    assert "thinking_budget_message" in jobs.json()["error"]["message"] and words in jobs.json()["error"]["message"]
    chat = client.post("/v1/chat/completions", json={"messages": question, "thinking_budget_message": value})
    assert chat.status_code == 400
    assert chat.json()["error"]["param"] == "thinking_budget_message" and words in chat.json()["error"]["message"]
    body = {"model": "fake", "messages": question, "thinking_budget_message": value}
    ollama = client.post("/api/chat", json=body)
    assert ollama.status_code == 400 and "thinking_budget_message" in ollama.json()["error"]


def test_budget_message_setting_refused_when_too_long(tmp_path: Any) -> None:
    with pytest.raises(ValueError, match="thinking_budget_message"):
        Settings(redis_url="redis://fake", data_dir=tmp_path, thinking_budget_message="x" * 501)


@pytest.mark.parametrize(
    ("text", "han"),
    [
        ("12乘以7等于多少？", True),
        ("解方程 3x + 5 = 20", True),
        ("What is 12 times 7?", False),
        ("What does 你好 mean?", False),
        ("12 x 7 = ?", False),  # no Han letters: not Chinese
        ("これは何ですか", False),  # Japanese in kana
        ("이것은 무엇입니까", False),
        ("", False),
    ],
)
def test_budget_message_language_mostly_han(text: str, han: bool) -> None:
    assert mostly_han(text) is han
