"""The chat API through the official `openai` client, against a real stack: real redis-server,
two real inference workers and the real SmolLM2 GGUF."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from redis import Redis

from shared import keys
from shared.schemas import JobSpec
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

MODEL = "SmolLM2-135M-Instruct.Q4_1"
SHORT = {"max_tokens": 120, "extra_body": {"max_reasoning_tokens": 48}}


@pytest.fixture(scope="module")
def chat_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    env = {"THINKSTREAM_MODEL_ALIASES": '["deepseek-reasoner"]'}
    with Stack(Path(tmp_path_factory.mktemp("chat")), workers=2, env=env) as running:
        yield running


@pytest.fixture
def client(chat_stack: Stack) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{chat_stack.url}/v1", api_key="unused", timeout=120) as c:
        yield c


def job_spec(stack: Stack, job_id: str) -> JobSpec:
    with Redis.from_url(stack.redis.url) as redis:
        raw = redis.hget(keys.job_key(job_id), "spec")
    assert raw is not None
    return JobSpec.model_validate_json(raw)


def test_streaming_sends_reasoning_before_content_then_usage(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "What is 12 + 30? Answer with the number."}],
        stream=True,
        stream_options={"include_usage": True},
        **SHORT,
    )
    kinds, reasoning, content, finish, usage, extras = [], [], [], None, None, {}
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            delta = choice.delta
            if getattr(delta, "reasoning_content", None):
                kinds.append("reasoning")
                reasoning.append(delta.reasoning_content)
            if delta.content:
                kinds.append("content")
                content.append(delta.content)
            if choice.finish_reason is not None:
                finish = choice.finish_reason
                extras = chunk.model_extra or {}
    assert kinds and kinds[0] == "reasoning"
    assert "content" in kinds and kinds.index("content") > kinds.index("reasoning")
    assert kinds[kinds.index("content") :] == ["content"] * kinds[kinds.index("content") :].count("content")
    assert finish in ("stop", "length")
    assert usage is not None and usage.completion_tokens > 0 and usage.prompt_tokens > 0
    assert usage.completion_tokens_details.reasoning_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert extras["check"]["verdict"] in ("pass", "fail", "unsure")
    assert extras["timings"]["predicted_n"] == usage.completion_tokens
    assert extras["timings"]["predicted_per_second"] > 0


def test_non_streaming_has_message_usage_timings_and_check(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="deepseek-reasoner",  # an alias, as a tool written for DeepSeek would send
        messages=[{"role": "user", "content": "Is 17 a prime number?"}],
        **SHORT,
    )
    choice = completion.choices[0]
    assert completion.object == "chat.completion" and completion.model == "deepseek-reasoner"
    assert choice.message.role == "assistant"
    assert choice.message.model_extra["reasoning_content"]
    assert choice.message.content
    assert "</think>" not in choice.message.content and "<think>" not in choice.message.model_extra["reasoning_content"]
    assert choice.finish_reason in ("stop", "length")
    assert completion.usage.completion_tokens_details.reasoning_tokens > 0
    timings = completion.model_extra["timings"]
    assert timings["prompt_n"] + timings["cache_n"] == completion.usage.prompt_tokens
    assert completion.model_extra["check"]["verdict"] in ("pass", "fail", "unsure")


def test_models_list_and_unknown_model(client: openai.OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert ids == [MODEL, "deepseek-reasoner"]
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    error = caught.value.body
    assert error["code"] == "model_not_found" and "GET /v1/models" in error["message"]


def test_bad_parameters_get_400_that_names_the_field(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}], n=3)
    assert caught.value.body["param"] == "n" and "only n=1" in caught.value.body["message"]
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}], temperature=7)
    assert caught.value.body["param"] == "temperature"


def test_three_turns_reuse_the_worker_and_never_send_reasoning_back(client: openai.OpenAI, chat_stack: Stack) -> None:
    history = [
        {"role": "system", "content": "You are a careful assistant. " * 80},
        {"role": "user", "content": "What is 6 times 7?"},
    ]
    jobs, workers = [], []
    for follow_up in ("Add 8 to that.", "Now halve it."):
        completion = client.chat.completions.create(model=MODEL, messages=history, **SHORT)
        message = completion.choices[0].message
        job_id = completion.model_extra["thinkstream"]["job_id"]
        jobs.append((job_id, completion))
        workers.append(_worker_of(chat_stack, job_id))
        # Send the turn back as DeepSeek's docs say not to, with its reasoning in both places.
        reasoning = message.model_extra["reasoning_content"]
        history.append(
            {
                "role": "assistant",
                "content": f"<think>{reasoning}</think>{message.content}",
                "reasoning_content": reasoning,
            }
        )
        history.append({"role": "user", "content": follow_up})
    completion = client.chat.completions.create(model=MODEL, messages=history, **SHORT)
    last_job = completion.model_extra["thinkstream"]["job_id"]
    workers.append(_worker_of(chat_stack, last_job))
    assert completion.choices[0].message.content

    spec = job_spec(chat_stack, last_job)
    assistants = [m.content for m in spec.messages if m.role == "assistant"]
    assert len(assistants) == 2
    for (_, earlier), sent in zip(jobs, assistants, strict=True):
        assert sent == earlier.choices[0].message.content.strip()
        assert "<think>" not in sent and "</think>" not in sent
    # Follow-ups went back to the worker that held the conversation, and reused its KV cache.
    assert workers[1] == workers[0] and workers[2] == workers[0]
    assert completion.usage.prompt_tokens_details.cached_tokens > 300
    assert completion.model_extra["timings"]["cache_n"] == completion.usage.prompt_tokens_details.cached_tokens


def test_over_long_conversation_drops_oldest_turns(client: openai.OpenAI, chat_stack: Stack) -> None:
    filler = "Tell me about the history of the number zero in detail please. " * 12
    messages: list[dict[str, str]] = [{"role": "system", "content": "Answer briefly."}]
    for i in range(6):
        messages += [{"role": "user", "content": f"{i}: {filler}"}, {"role": "assistant", "content": f"Noted {i}."}]
    messages.append({"role": "user", "content": "What is 2 + 2?"})
    # 3,700 tokens kept for the reply leave about 400 for the prompt: most turns must go.
    completion = client.chat.completions.create(
        model=MODEL, messages=messages, max_tokens=3700, stop=["\n"], extra_body={"max_reasoning_tokens": 24}
    )
    dropped = completion.model_extra["thinkstream"]["dropped_messages"]
    assert dropped >= 8 and dropped % 2 == 0
    spec = job_spec(chat_stack, completion.model_extra["thinkstream"]["job_id"])
    assert spec.messages[0].content == "Answer briefly."
    assert spec.messages[-1].content == "What is 2 + 2?"
    assert len(spec.messages) == len(messages) - dropped
    assert completion.usage.prompt_tokens + 3700 <= 4096


def test_latest_turn_alone_too_long_is_413_with_counts(chat_stack: Stack) -> None:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "word " * 5000}], "max_tokens": 100}
    response = httpx.post(f"{chat_stack.url}/v1/chat/completions", json=body, timeout=30)
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "context_length_exceeded"
    assert error["prompt_tokens"] > error["max_prompt_tokens"] == 4096 - 100


def test_curl_style_stream_ends_with_done(chat_stack: Stack) -> None:
    body = {"messages": [{"role": "user", "content": "Say hi."}], "stream": True, "max_tokens": 40}
    with httpx.stream("POST", f"{chat_stack.url}/v1/chat/completions", json=body, timeout=60) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    assert '"finish_reason":"stop"' in lines[-2] or '"finish_reason":"length"' in lines[-2]


def test_full_queue_gets_429_with_retry_after(tmp_path: Path) -> None:
    with Stack(tmp_path, workers=1, env={"THINKSTREAM_MAX_QUEUED_JOBS": "2"}) as stack:
        stack.stop_process("worker-0", signal.SIGTERM)  # nothing takes jobs off the queue now
        body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}
        for _ in range(2):
            assert (
                httpx.post(f"{stack.url}/v1/jobs", json={"prompt": "hi", "max_tokens": 8}, timeout=10).status_code
                == 202
            )
        response = httpx.post(f"{stack.url}/v1/chat/completions", json=body, timeout=10)
        assert response.status_code == 429
        assert int(response.headers["Retry-After"]) >= 1
        assert response.json()["error"]["code"] == "queue_full"
        client = openai.OpenAI(base_url=f"{stack.url}/v1", api_key="unused", max_retries=0)
        with client, pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
        with Redis.from_url(stack.redis.url) as redis:
            waiting = redis.zcard(keys.priority_waiting_key(MODEL, "normal"))
            assert waiting == 2  # nothing refused was queued


def _worker_of(stack: Stack, job_id: str) -> str:
    events = httpx.get(f"{stack.url}/v1/jobs/{job_id}", timeout=10).json()
    assert events["status"] == "succeeded"
    with Redis.from_url(stack.redis.url) as redis:
        for raw in redis.lrange(keys.job_events_key(job_id), 0, -1):
            if b'"started"' in raw:
                return json.loads(raw)["worker"]
    raise AssertionError(f"job {job_id} has no started event")
