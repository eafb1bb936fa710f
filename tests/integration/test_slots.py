"""One worker with four slots (continuous batching) on the real model: four greedy chat streams
sent at once are each the text the same question gets alone, every stream is served at once
(none waits for another to finish), a cancelled one leaves while the others go on, and the
worker says how many slots it has. Real redis-server, real worker process, the SmolLM2 GGUF.

Below the service, on the batched llama.cpp context itself: a sequence's logits, bit for bit,
do not depend on which other sequences share its steps or what they hold (no cross-talk)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from shared import keys
from shared.schemas import ChatMessage
from shared.settings import embedded_model_path
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


def test_slots_a_sequences_logits_do_not_depend_on_the_others_in_its_steps() -> None:
    import llama_cpp
    from llama_cpp import Llama

    from services.engine.prompt import ChatPrompt
    from services.inference.batched_llama import LlamaBackend
    from services.inference.engine import Sampling
    from services.inference.slots import Row

    llm = Llama(model_path=str(embedded_model_path()), n_ctx=512, n_threads=1, verbose=False)
    backend = LlamaBackend(llm, n_seq=3, n_ctx_seq=512, n_batch=256, n_threads=1)
    n_vocab = llama_cpp.llama_vocab_n_tokens(llm._model.vocab)
    chat_prompt = ChatPrompt(llm)

    def tokens(question: str) -> list[int]:
        return chat_prompt.tokens([ChatMessage(role="user", content=question)])

    def read(index: int) -> np.ndarray:
        return np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(backend.ctx, index), (n_vocab,)).copy()

    def run(prompts: list[list[int]], forced: list[int] | None = None, steps: int = 24) -> list[np.ndarray]:
        """The first sequence's logits at each step: prompts read one per step (as the batcher
        does), then every sequence decoded together, the first fed `forced` if given."""
        for seq in range(3):
            backend.truncate(seq, 0)
            backend.set_sampling(seq, Sampling(temperature=0.0, top_p=1.0, seed=None))
        logits, nxt = [], []
        for seq, prompt in enumerate(prompts):
            nxt.append(backend.step([Row(seq, 0, prompt, sample=True)])[seq])
            if seq == 0:
                logits.append(read(len(prompt) - 1))
        pos = [len(prompt) for prompt in prompts]
        for step in range(steps):
            if forced is not None:
                nxt[0] = forced[step]
            rows = [Row(seq, pos[seq], [nxt[seq]], sample=True) for seq in range(len(prompts))]
            sampled = backend.step(rows)
            logits.append(read(0))
            pos = [p + 1 for p in pos]
            nxt = [int(np.argmax(logits[-1]))] + [sampled[seq] for seq in range(1, len(prompts))]
        return logits

    try:
        question = tokens("Write a haiku about rain.")
        alone = run([question])
        forced = [int(np.argmax(row)) for row in alone[:-1]]  # what the first sequence was fed alone
        with_some = run([question, tokens("What is 17 times 23?"), tokens("Why is the sky blue?")], forced)
        with_others = run([question, tokens("Name three prime numbers above 50."), tokens("Count to ten.")], forced)
    finally:
        backend.close()
        llm.close()
    assert len(alone) == len(with_some) == len(with_others) == 25
    for step, (a, b, c) in enumerate(zip(alone, with_some, with_others, strict=True)):
        assert np.array_equal(a, b) and np.array_equal(a, c), f"step {step}: the logits changed with the others"


def test_slots_a_greedy_sequence_takes_llama_cpps_greedy_pick_at_every_step() -> None:
    """The batched context reads a greedy token straight from the logits: it must be the token
    llama.cpp's own greedy sampler picks (what a worker of one job at a time samples)."""
    import llama_cpp
    from llama_cpp import Llama

    from services.engine.prompt import ChatPrompt
    from services.inference.batched_llama import LlamaBackend
    from services.inference.engine import Sampling
    from services.inference.slots import Row

    llm = Llama(model_path=str(embedded_model_path()), n_ctx=512, n_threads=1, verbose=False)
    backend = LlamaBackend(llm, n_seq=2, n_ctx_seq=512, n_batch=256, n_threads=1)
    greedy = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
    llama_cpp.llama_sampler_chain_add(greedy, llama_cpp.llama_sampler_init_greedy())
    ours, theirs = [], []
    try:
        for seq, question in enumerate(["Write a haiku about rain.", "What is 17 times 23?"]):
            backend.set_sampling(seq, Sampling(temperature=0.0, top_p=1.0, seed=None))
            prompt = ChatPrompt(llm).tokens([ChatMessage(role="user", content=question)])
            token = backend.step([Row(seq, 0, prompt, sample=True)])[seq]
            ours.append(token)
            theirs.append(llama_cpp.llama_sampler_sample(greedy, backend.ctx, len(prompt) - 1))
            for pos in range(len(prompt), len(prompt) + 40):
                token = backend.step([Row(seq, pos, [token], sample=True)])[seq]
                ours.append(token)
                theirs.append(llama_cpp.llama_sampler_sample(greedy, backend.ctx, 0))
    finally:
        llama_cpp.llama_sampler_free(greedy)
        backend.close()
        llm.close()
    assert ours == theirs


def test_slots_up_runs_one_batching_worker_by_default(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    from services.inference.slot_worker import default_slots
    from services.runtime.redis_server import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "THINKSTREAM_SLOTS"}
    env["THINKSTREAM_DATA_DIR"] = str(tmp_path / "data")
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "up", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if "is ready at" in line or len(lines) > 400:
                break
        assert "batching" in lines[-1], "".join(lines)
        url = (tmp_path / "data" / "redis" / "redis.url").read_text().strip()
        import redis

        client = redis.Redis.from_url(url)
        (worker_id,) = client.zrange(keys.live_workers_key("inference"), 0, -1)
        slots = int(client.hget(keys.worker_key(worker_id.decode()), "slots") or 0)
        assert slots == default_slots(os.cpu_count() or 1, 4096) and slots > 1
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)
