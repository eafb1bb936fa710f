"""One worker with four slots (continuous batching) on the real model: four greedy chat streams
sent at once are each the text the same question gets alone, every stream is served at once
(none waits for another to finish), a cancelled one leaves while the others go on, and the
worker says how many slots it has. Real redis-server, real worker process, the SmolLM2 GGUF."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared import keys
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

SLOTS = 4
QUESTIONS = [
    "What is 17 times 23?",
    "Name three prime numbers above 50.",
    "Why is the sky blue?",
    "Write a haiku about rain.",
]
MAX_TOKENS = 64


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    env = {"THINKSTREAM_SLOTS": str(SLOTS), "THINKSTREAM_N_CTX": "2048"}
    with Stack(Path(tmp_path_factory.mktemp("slots")), workers=1, env=env) as running:
        yield running


def chat(url: str, question: str, max_tokens: int = MAX_TOKENS) -> dict[str, Any]:
    body = {
        "messages": [{"role": "user", "content": question}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": max_tokens,
        "max_reasoning_tokens": max_tokens // 2,
        "temperature": 0,
    }
    reasoning, answer, first, usage = [], [], None, {}
    start = time.monotonic()
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=300) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            for choice in chunk.get("choices") or []:
                delta = choice["delta"]
                if first is None and (delta.get("reasoning_content") or delta.get("content")):
                    first = time.monotonic()
                reasoning.append(delta.get("reasoning_content") or "")
                answer.append(delta.get("content") or "")
            usage = chunk.get("usage") or usage
    end = time.monotonic()
    return {
        "reasoning": "".join(reasoning),
        "answer": "".join(answer),
        "tokens": usage.get("completion_tokens", 0),
        "first_s": (first or end) - start,
        "start": start,
        "first": first or end,
        "end": end,
    }


def at_once(url: str, questions: list[str]) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = [{} for _ in questions]
    barrier = threading.Barrier(len(questions))

    def one(index: int) -> None:
        barrier.wait()
        results[index] = chat(url, questions[index])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(questions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    return results


def test_slots_concurrent_greedy_streams_are_the_texts_each_gets_alone(stack: Stack) -> None:
    alone = [chat(stack.url, q) for q in QUESTIONS]
    together = at_once(stack.url, QUESTIONS)
    for solo, batched in zip(alone, together, strict=True):
        assert batched["tokens"] > 0
        assert (batched["reasoning"], batched["answer"]) == (solo["reasoning"], solo["answer"])
    # All four were served at once: each had its first token before any other ended.
    first_ends = min(r["end"] for r in together)
    assert all(r["first"] < first_ends for r in together)


def test_slots_a_cancelled_stream_leaves_and_the_others_finish(stack: Stack) -> None:
    results: list[dict[str, Any]] = []
    others = threading.Thread(target=lambda: results.extend(at_once(stack.url, QUESTIONS[:3])))
    others.start()
    # A fourth job, cancelled as soon as it runs.
    job = httpx.post(f"{stack.url}/v1/jobs", json={"prompt": QUESTIONS[3], "max_tokens": 400}, timeout=30).json()
    url = f"{stack.url}/v1/jobs/{job['id']}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and httpx.get(url).json()["status"] == "queued":
        time.sleep(0.05)
    httpx.delete(url, timeout=30)
    while time.monotonic() < deadline and httpx.get(url).json()["status"] == "running":
        time.sleep(0.05)
    assert httpx.get(url).json()["status"] == "canceled"
    others.join(300)
    assert len(results) == 3 and all(r["tokens"] > 0 and r["answer"] for r in results)


def test_slots_the_worker_declares_its_slots(stack: Stack) -> None:
    worker_id = stack.redis.client().zrange(keys.live_workers_key("inference"), 0, -1)[0].decode()
    info = stack.redis.client().hgetall(keys.worker_key(worker_id))
    assert int(info[b"slots"]) == SLOTS and b"slots_busy" in info
