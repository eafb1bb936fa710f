"""A worker SIGKILLed mid-reasoning or mid-answer: its job goes on on another worker from the
last streamed token, and a greedy job ends with exactly the text of an uninterrupted run, read
from a `/v1/jobs` stream and from a chat stream through the official `openai` client. Real
redis-server, real worker processes, the real SmolLM2 GGUF."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse
from openai import OpenAI

from shared import keys
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

QUESTION = "Explain step by step how to multiply 123 by 456."
BODY = {"prompt": QUESTION, "max_tokens": 240, "max_reasoning_tokens": 120}
FAST_FAILOVER = {"THINKSTREAM_HEARTBEAT_INTERVAL_S": "0.5", "THINKSTREAM_WORKER_TTL_S": "3"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with Stack(Path(tmp_path_factory.mktemp("resume")), workers=2, env=FAST_FAILOVER) as running:
        yield running


@pytest.fixture(scope="module")
def reference(stack: Stack) -> dict[str, Any]:
    """The same greedy job without a kill."""
    job_id = submit(stack.url)
    assert list(events(stack.url, job_id))[-1]["type"] == "done"
    view = httpx.get(f"{stack.url}/v1/jobs/{job_id}", timeout=10).json()
    assert view["reasoning"] and view["answer"], view
    return view


def submit(url: str) -> str:
    response = httpx.post(f"{url}/v1/jobs", json=BODY, timeout=10)
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def events(url: str, job_id: str) -> Iterator[dict[str, Any]]:
    with (
        httpx.Client(base_url=url, timeout=180) as client,
        connect_sse(client, "GET", f"/v1/jobs/{job_id}/events") as source,
    ):
        for sse in source.iter_sse():
            if sse.data:
                yield json.loads(sse.data)


def kill_worker(stack: Stack, worker_id: str) -> float:
    """SIGKILL a worker (ids are `host-pid-random`); returns when."""
    pid = int(worker_id.rsplit("-", 2)[1])
    os.kill(pid, signal.SIGKILL)
    for name, process in list(stack.processes.items()):
        if process.pid == pid:
            process.wait(timeout=10)
            stack.processes.pop(name)
    return time.monotonic()


def spawn_worker(stack: Stack) -> None:
    """Another worker, so that a job can lose two."""
    stack.spawn(f"worker-{len(stack.processes)}-{time.monotonic_ns()}", "worker")


def types_seen(seen: list[dict[str, Any]], kind: str) -> int:
    return sum(e["type"] == kind for e in seen)


def text(seen: list[dict[str, Any]], kind: str) -> str:
    return "".join(e["text"] for e in seen if e["type"] == kind)


def test_resume_killed_mid_reasoning_and_mid_answer_ends_with_the_uninterrupted_text(
    stack: Stack, reference: dict[str, Any]
) -> None:
    job_id = submit(stack.url)
    seen: list[dict[str, Any]] = []
    kills: list[float] = []
    moved_after_s: list[float] = []
    for event in events(stack.url, job_id):
        seen.append(event)
        worker = next((e["worker"] for e in reversed(seen) if e["type"] in ("started", "resumed")), None)
        if event["type"] == "resumed":
            spawn_worker(stack)  # the next kill needs a third worker
        if kills and len(moved_after_s) < len(kills) and event["type"] in ("reasoning", "answer"):
            moved_after_s.append(time.monotonic() - kills[-1])
        mid_reasoning = not kills and event["type"] == "reasoning" and types_seen(seen, "reasoning") >= 4
        mid_answer = len(kills) == 1 and len(moved_after_s) == 1 and event["type"] == "answer"
        if mid_reasoning or mid_answer:
            kills.append(kill_worker(stack, str(worker)))

    types = [e["type"] for e in seen]
    assert types[-1] == "done", types
    assert [e["seq"] for e in seen] == list(range(1, len(seen) + 1))
    resumed = [e for e in seen if e["type"] == "resumed"]
    assert [e["attempt"] for e in resumed] == [2, 3] and types.count("retry") == 2
    # Each attempt went on from every token streamed before its worker died.
    for event in resumed:
        before = seen[: seen.index(event)]
        assert event["tokens_kept"] == sum(len(e["token_ids"]) for e in before if e["type"] in ("reasoning", "answer"))
    # Greedy: the text of the uninterrupted run, streamed once, nothing taken back.
    assert (text(seen, "reasoning"), text(seen, "answer")) == (reference["reasoning"], reference["answer"])
    view = httpx.get(f"{stack.url}/v1/jobs/{job_id}", timeout=10).json()
    assert (view["reasoning"], view["answer"], view["attempt"]) == (reference["reasoning"], reference["answer"], 3)
    assert view["usage"]["reasoning_tokens"] + view["usage"]["answer_tokens"] == sum(
        len(e["token_ids"]) for e in seen if e["type"] in ("reasoning", "answer")
    )
    print(f"\nworker SIGKILL → stream moving again: {', '.join(f'{s:.1f} s' for s in moved_after_s)}")
    print(f"tokens kept (before: generated again): {[e['tokens_kept'] for e in resumed]}")


def test_resume_chat_stream_read_by_the_openai_client_repeats_nothing(stack: Stack, reference: dict[str, Any]) -> None:
    client = OpenAI(base_url=f"{stack.url}/v1", api_key="unused", max_retries=0, timeout=180)
    request: dict[str, Any] = {
        "model": "SmolLM2-135M-Instruct.Q4_1",
        "messages": [{"role": "user", "content": QUESTION}],
        "max_tokens": BODY["max_tokens"],
        "extra_body": {"max_reasoning_tokens": BODY["max_reasoning_tokens"]},
    }
    expected = client.chat.completions.create(**request, stream=False)  # type: ignore[call-overload]
    want_reasoning = expected.choices[0].message.model_extra["reasoning_content"]
    assert want_reasoning == reference["reasoning"]
    spawn_worker(stack)  # the last test left one worker
    stack.wait_ready()
    redis = stack.redis.client()
    reasoning, content, extras = [], [], []
    killed = False
    for chunk in client.chat.completions.create(**request, stream=True):  # type: ignore[call-overload]
        if chunk.model_extra and chunk.model_extra.get("thinkstream"):
            extras.append(chunk.model_extra["thinkstream"])
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        reasoning.append((delta.model_extra or {}).get("reasoning_content") or "")
        content.append(delta.content or "")
        if not killed and len("".join(reasoning)) > 40:
            job_id = chunk.id.removeprefix("chatcmpl-")
            kill_worker(stack, redis.hget(keys.job_key(job_id), "worker").decode())
            killed = True
    assert killed
    assert "".join(reasoning) == want_reasoning
    assert "".join(content) == expected.choices[0].message.content
    assert all(set(extra) <= {"job_id", "dropped_messages", "reasoning_end", "rounds"} for extra in extras[:-1])
    redis.close()
