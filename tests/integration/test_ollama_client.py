"""Ollama's API through the official `ollama` client, against a real stack (real redis-server, a
real worker on the real SmolLM2 GGUF), with an API key sent as Ollama clients send one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import ollama
import pytest

from shared.apikeys import key_entry, new_key
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

MODEL = "SmolLM2-135M-Instruct.Q4_1"
KEY = new_key()
QUESTION = "What is 12 + 30? Answer with the number."
OPTIONS = {"num_predict": 80, "temperature": 0, "seed": 1}
THINK_TOKENS = 24
"""`think: true` is `reasoning_effort: medium`, set small here so that the answer has room."""


@pytest.fixture(scope="module")
def ollama_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    env = {
        "THINKSTREAM_API_KEY_HASHES": key_entry("alice", KEY),
        "THINKSTREAM_REASONING_EFFORT_MEDIUM_TOKENS": str(THINK_TOKENS),
    }
    with Stack(Path(tmp_path_factory.mktemp("ollama")), env=env) as running:
        yield running


@pytest.fixture
def client(ollama_stack: Stack) -> Iterator[ollama.Client]:
    with ollama.Client(host=ollama_stack.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=120) as c:
        yield c


def test_ollama_client_chat_thinks_then_answers(client: ollama.Client) -> None:
    reply = client.chat(model=MODEL, messages=[{"role": "user", "content": QUESTION}], think=True, options=OPTIONS)
    assert reply.done and reply.done_reason in ("stop", "length")
    assert reply.message.role == "assistant"
    assert reply.message.thinking and reply.message.content
    assert reply.eval_count is not None and 0 < reply.eval_count <= OPTIONS["num_predict"]
    assert reply.total_duration and reply.eval_duration and reply.prompt_eval_count


def test_ollama_client_chat_streams_without_thinking(client: ollama.Client) -> None:
    parts = list(
        client.chat(
            model=MODEL, messages=[{"role": "user", "content": QUESTION}], stream=True, think=False, options=OPTIONS
        )
    )
    assert parts[-1].done and not any(part.done for part in parts[:-1])
    assert not any(part.message.thinking for part in parts), "think: false answers without a reasoning phase"
    assert "".join(part.message.content or "" for part in parts).strip()


def test_ollama_client_generate_streams_thinking_before_the_response(client: ollama.Client) -> None:
    parts = list(client.generate(model=f"{MODEL}:latest", prompt=QUESTION, stream=True, think=True, options=OPTIONS))
    kinds = [("thinking" if part.thinking else "response") for part in parts if part.thinking or part.response]
    assert kinds and kinds[0] == "thinking" and "response" in kinds
    assert kinds == sorted(kinds, key=lambda kind: kind == "response"), "all thinking comes before the response"
    last = parts[-1]
    assert last.done and last.eval_count and last.eval_count <= OPTIONS["num_predict"]


def test_ollama_client_generate_not_streaming(client: ollama.Client) -> None:
    reply = client.generate(model=MODEL, prompt=QUESTION, think=False, options={**OPTIONS, "num_predict": 24})
    assert reply.done and reply.response and not reply.thinking
    assert reply.done_reason == "length" or reply.eval_count <= 24  # type: ignore[operator]


def test_ollama_client_lists_and_shows_the_model(client: ollama.Client) -> None:
    names = [model.model for model in client.list().models]
    assert names == [f"{MODEL}:latest"]
    shown = client.show(MODEL)
    assert shown.capabilities and "thinking" in shown.capabilities
    assert shown.details and shown.details.quantization_level == "Q4_1"


def test_ollama_client_unknown_model_is_ollamas_404(client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as refused:
        client.chat(model="llama3.2", messages=[{"role": "user", "content": QUESTION}])
    assert refused.value.status_code == 404
    assert refused.value.error.startswith("model 'llama3.2' not found")


def test_ollama_client_without_the_key_is_refused(ollama_stack: Stack) -> None:
    with ollama.Client(host=ollama_stack.url) as anonymous, pytest.raises(ollama.ResponseError) as refused:
        anonymous.list()
    assert refused.value.status_code == 401 and "API key" in refused.value.error
