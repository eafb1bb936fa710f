""" "Stop thinking now" against a real stack (real redis-server, worker and SmolLM2 GGUF): a
long reasoning is ended by the completion's id from the official `openai` client's stream, and
the answer follows in the same stream."""

from __future__ import annotations

import json

import httpx
import openai
import pytest
from redis import Redis

from shared import keys
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

MODEL = "SmolLM2-135M-Instruct.Q4_1"
FEW_TOKENS = 14
"""How far the reasoning may run past the request: the worker reads it at its next flush (within
40 ms, a few tokens), and the event log the test reads lags the worker by up to one flush too."""


def streamed_reasoning_tokens(stack: Stack, job_id: str) -> int:
    """Reasoning tokens the worker has streamed so far (its event log)."""
    with Redis.from_url(stack.redis.url) as redis:
        raw = redis.lrange(keys.job_events_key(job_id), 0, -1)
    return sum(e.get("tokens", 0) for e in map(json.loads, raw) if e["type"] == "reasoning")


def test_control_ends_a_long_reasoning_within_a_few_tokens_and_the_answer_follows(stack: Stack) -> None:
    with openai.OpenAI(base_url=f"{stack.url}/v1", api_key="unused", timeout=120) as client:
        chunks = client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "Write a long essay about the history of mathematics."}],
            stream=True,
            max_tokens=300,
            extra_body={"max_reasoning_tokens": 280},
        )
        reasoning_events, answer, completion_id, control = 0, "", None, None
        at_request = 0
        for chunk in chunks:
            completion_id = chunk.id
            for choice in chunk.choices:
                if getattr(choice.delta, "reasoning_content", None):
                    reasoning_events += 1
                if choice.delta.content:
                    answer += choice.delta.content
            # At the first reasoning chunk: the further in, the likelier the model closes the
            # block itself while the request is on its way (on a loaded machine, it did once).
            if control is None and reasoning_events >= 1:
                control = httpx.post(
                    f"{stack.url}/v1/chat/completions/{completion_id}/control",
                    json={"action": "end_reasoning"},
                    timeout=10,
                )
                at_request = streamed_reasoning_tokens(stack, completion_id.removeprefix("chatcmpl-"))
    assert control is not None and control.status_code == 202, control and control.text
    assert control.json()["status"] == "running"
    job_id = str(completion_id).removeprefix("chatcmpl-")
    view = httpx.get(f"{stack.url}/v1/jobs/{job_id}", timeout=10).json()
    assert view["reasoning_end"] == "requested", view
    reasoning_tokens = view["usage"]["reasoning_tokens"]
    assert at_request <= reasoning_tokens <= at_request + FEW_TOKENS, (at_request, reasoning_tokens)
    assert reasoning_tokens < 280  # not the budget: the request ended it
    assert answer.strip() and view["answer"] == answer
    print(f"control: {at_request} reasoning tokens streamed at the request, {reasoning_tokens} in all")
