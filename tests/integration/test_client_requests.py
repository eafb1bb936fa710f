"""What real clients send, replayed against a real stack (real redis-server, the real SmolLM2
GGUF): Open WebUI's captured requests (tests/fixtures/clients), and the official `openai` client
reading `reasoning`, setting `reasoning_effort` and a budget that ends with the budget message."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from redis import Redis

from shared import keys
from shared.schemas import JobSpec
from shared.settings import Settings
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

CLIENTS = Path(__file__).resolve().parents[1] / "fixtures" / "clients"
OPENWEBUI = sorted((CLIENTS / "openwebui-0.12.4").glob("*.json"))
MODEL = "SmolLM2-135M-Instruct.Q4_1"
HELPER_BUDGET = 16
# The bodies go as captured; the server keeps their unbounded parts short so the replay is quick
# (the 135M model can ramble to the context's end where a real model stops after the JSON).
ENV = {
    "THINKSTREAM_DEFAULT_MAX_TOKENS": "64",
    "THINKSTREAM_DEFAULT_MAX_REASONING_TOKENS": "32",
    "THINKSTREAM_NON_STREAMING_MAX_REASONING_TOKENS": str(HELPER_BUDGET),
}


def load(path: Path) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(path.read_text())["body"]
    return body


def job_spec(stack: Stack, job_id: str) -> JobSpec:
    with Redis.from_url(stack.redis.url) as redis:
        raw = redis.hget(keys.job_key(job_id), "spec")
    assert raw is not None
    return JobSpec.model_validate_json(raw)


def stream(url: str, body: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """The job id and the chunks of a streaming request."""
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=180) as response:
        assert response.status_code == 200, response.read()
        lines = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
        job_id = response.headers["X-Thinkstream-Job"]
    assert lines[-1] == "[DONE]"
    return job_id, [json.loads(line) for line in lines[:-1]]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with Stack(Path(tmp_path_factory.mktemp("clients")), env=ENV) as running:
        yield running


@pytest.fixture
def client(stack: Stack) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{stack.url}/v1", api_key="unused", timeout=180) as c:
        yield c


def test_openwebui_fixtures_were_captured() -> None:
    assert {p.stem for p in OPENWEBUI} >= {"chat", "title", "tags", "follow_ups"}
    assert len(load(CLIENTS / "openwebui-0.12.4" / "chat.json")["tools"]) == 36


def test_openwebui_chat_request_streams_reasoning_then_answer(stack: Stack) -> None:
    body = load(CLIENTS / "openwebui-0.12.4" / "chat.json")
    assert body["stream"] and body["tools"] and "tool_choice" not in body
    job_id, chunks = stream(stack.url, body)
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    reasoning = "".join(d.get("reasoning_content", "") for d in deltas)
    assert reasoning and reasoning == "".join(d.get("reasoning", "") for d in deltas)
    assert "".join(d.get("content", "") for d in deltas).strip()
    assert chunks[-1]["choices"][0]["finish_reason"] in ("stop", "length")
    # SmolLM2's template cannot call tools: they were left out of the prompt.
    assert not any(m.tools for m in job_spec(stack, job_id).messages)


@pytest.mark.parametrize("task", ["title", "tags", "follow_ups"])
def test_openwebui_helper_requests_answer_within_the_helper_budget(stack: Stack, task: str) -> None:
    body = load(CLIENTS / "openwebui-0.12.4" / f"{task}.json")
    assert body.get("stream") is not True
    response = httpx.post(f"{stack.url}/v1/chat/completions", json=body, timeout=180)
    assert response.status_code == 200, response.text
    reply = response.json()
    assert reply["choices"][0]["message"]["content"]
    spec = job_spec(stack, reply["thinkstream"]["job_id"])
    assert spec.max_reasoning_tokens == HELPER_BUDGET
    assert reply["usage"]["completion_tokens_details"]["reasoning_tokens"] <= HELPER_BUDGET


def test_openai_client_reads_reasoning_under_both_names(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Is 17 a prime number?"}],
        max_tokens=80,
        user="u-42",
        metadata={"team": "qa"},
        store=False,
        service_tier="auto",
        parallel_tool_calls=True,
        extra_body={"max_reasoning_tokens": 24},
    )
    message = reply.choices[0].message
    assert (
        message.model_extra["reasoning"]
        and message.model_extra["reasoning"] == message.model_extra["reasoning_content"]
    )
    stream = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Is 17 a prime number?"}],
        max_tokens=80,
        stream=True,
        extra_body={"max_reasoning_tokens": 24},
    )
    deltas = [chunk.choices[0].delta for chunk in stream if chunk.choices]
    both = [(d.model_extra.get("reasoning"), d.model_extra.get("reasoning_content")) for d in deltas]
    assert any(r for r, _ in both) and all(r == rc for r, rc in both)


def test_openai_client_reasoning_effort_none_answers_without_reasoning(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "What is 3 + 4?"}],
        max_tokens=40,
        reasoning_effort="none",
    )
    assert reply.usage.completion_tokens_details.reasoning_tokens == 0
    assert reply.choices[0].message.model_extra["reasoning_content"] == ""
    assert reply.choices[0].message.content
    low = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "What is 3 + 4?"}],
        max_tokens=320,
        reasoning_effort="low",
    )
    assert 0 < low.usage.completion_tokens_details.reasoning_tokens <= Settings().reasoning_effort_low_tokens


def test_openai_client_budget_of_16_tokens_ends_with_the_budget_message_and_an_answer(client: openai.OpenAI) -> None:
    question = [{"role": "user", "content": "Explain step by step how to multiply 37 by 48."}]
    stream = client.chat.completions.create(
        model=MODEL, messages=question, max_tokens=96, stream=True, extra_body={"max_reasoning_tokens": 16}
    )
    chunks = list(stream)
    deltas = [chunk.choices[0].delta for chunk in chunks if chunk.choices]
    reasoning = "".join(d.model_extra.get("reasoning_content") or "" for d in deltas)
    assert reasoning.endswith("\n\n" + Settings().thinking_budget_message), reasoning
    assert reasoning == "".join(d.model_extra.get("reasoning") or "" for d in deltas)
    assert "".join(d.content or "" for d in deltas).strip()  # the model answered after reading it
    assert chunks[-1].model_extra["thinkstream"]["reasoning_end"] == "budget"
    own = client.chat.completions.create(
        model=MODEL,
        messages=question,
        max_tokens=96,
        extra_body={"max_reasoning_tokens": 16, "thinking_budget_message": "Enough: the answer now."},
    )
    assert own.choices[0].message.model_extra["reasoning_content"].endswith("\n\nEnough: the answer now.")
    assert own.choices[0].message.content.strip()
    assert own.usage.completion_tokens_details.reasoning_tokens == 16  # the message is not generated
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model=MODEL, messages=question, extra_body={"thinking_budget_message": "stop\x00now"}
        )
    assert caught.value.body["param"] == "thinking_budget_message"


def test_openai_client_unsupported_field_is_400_naming_it(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "hi"}],
            tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
            tool_choice="required",
        )
    assert caught.value.body["param"] == "tool_choice" and "cannot call tools" in caught.value.body["message"]
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], logit_bias={"50256": -100}
        )
    assert caught.value.body["param"] == "logit_bias"
