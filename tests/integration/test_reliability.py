"""Chaos against real processes: Redis restarted under load, a worker told to stop mid-job, the
gateway drained. Real redis-server, real workers, the real SmolLM2 GGUF. (A worker killed
mid-generation: tests/integration/test_resume.py.)"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse

from services.runtime.redis_server import RedisServer
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

LONG = {"prompt": "Explain step by step how to multiply 123 by 456.", "max_tokens": 400, "max_reasoning_tokens": 300}


def submit(url: str, body: dict[str, Any] = LONG) -> str:
    response = httpx.post(f"{url}/v1/jobs", json=body, timeout=10)
    assert response.status_code == 202, response.text
    return response.json()["id"]


def events(url: str, job_id: str, timeout: float = 180) -> Iterator[dict[str, Any]]:
    with (
        httpx.Client(base_url=url, timeout=timeout) as client,
        connect_sse(client, "GET", f"/v1/jobs/{job_id}/events") as source,
    ):
        for sse in source.iter_sse():
            if sse.data:  # not a keep-alive comment
                yield json.loads(sse.data)


def test_redis_restart_loses_no_job_and_streams_resume(tmp_path: Path) -> None:
    with Stack(tmp_path, workers=1) as stack:
        jobs = [submit(stack.url, {**LONG, "max_tokens": 96}) for _ in range(3)]
        streams: dict[str, list[dict[str, Any]]] = {job: [] for job in jobs}

        def follow(job: str) -> None:
            for event in events(stack.url, job, timeout=300):
                streams[job].append(event)

        readers = [threading.Thread(target=follow, args=(job,), daemon=True) for job in jobs]
        for reader in readers:
            reader.start()
        deadline = time.monotonic() + 60
        while not any(e["type"] == "reasoning" for e in streams[jobs[0]]) and time.monotonic() < deadline:
            time.sleep(0.05)
        stack.redis.stop()
        time.sleep(0.5)
        assert httpx.get(f"{stack.url}/readyz", timeout=10).status_code == 503
        time.sleep(2)
        stack.redis.start()
        for reader in readers:
            reader.join(240)
        for job in jobs:
            types = [e["type"] for e in streams[job]]
            assert types[-1] == "done", (job, types)
            assert [e["seq"] for e in streams[job]] == list(range(1, len(types) + 1))
        assert httpx.get(f"{stack.url}/readyz", timeout=10).status_code == 200


def test_sigterm_lets_the_worker_finish_its_job_then_exit(tmp_path: Path) -> None:
    with Stack(tmp_path, workers=1) as stack:
        job_id = submit(stack.url, {**LONG, "max_tokens": 120})
        stream = events(stack.url, job_id)
        for event in stream:
            if event["type"] == "reasoning":
                break
        worker = stack.processes["worker-0"]
        worker.send_signal(signal.SIGTERM)
        rest = [e["type"] for e in stream]
        assert rest[-1] == "done", rest
        assert worker.wait(timeout=30) == 0


CHAT_LONG = {
    "model": "SmolLM2-135M-Instruct.Q4_1",
    "messages": [{"role": "user", "content": LONG["prompt"]}],
    "max_tokens": 400,
    "max_reasoning_tokens": 300,
    "stream": True,
}


IDLE_WORKER_SIGNALLED_BY_ANOTHER_THREAD = """
import signal, sys, threading, time
from redis import Redis
from rq import Queue
from services.runtime.serving import StoppableWorker, serve

redis = Redis.from_url(sys.argv[1])
queue = Queue("idle", connection=redis)
worker = StoppableWorker([queue], connection=redis)

def signal_this_thread():
    time.sleep(1.0)  # the worker waits for a job by now
    signal.pthread_kill(threading.get_ident(), signal.SIGTERM)  # this thread, not the main one
    time.sleep(10.0)
    redis.lpush(queue.key, "no-such-job")  # wakes a worker that missed it, so the test ends

threading.Thread(target=signal_this_thread, daemon=True).start()
started = time.monotonic()
serve(worker, redis, burst=False, logging_level="WARNING")
print(worker.stopping, time.monotonic() - started - 1.0)
"""


def test_a_stop_signal_another_thread_takes_still_stops_an_idle_worker_at_once(tmp_path: Path) -> None:
    """The kernel hands a process's signal to any of its threads, and Python runs the handler in
    the main thread only when that thread next runs Python. An idle post-processing worker sat in
    one 405 s wait for a job, and `up` killed it 15 s after a Ctrl-C (about one time in five)."""
    with RedisServer(tmp_path / "redis") as server:
        done = subprocess.run(
            [sys.executable, "-c", IDLE_WORKER_SIGNALLED_BY_ANOTHER_THREAD, server.url],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    stopping, after_s = done.stdout.split()
    assert stopping == "True", done.stdout
    assert float(after_s) < 2.5, f"the worker stopped {float(after_s):.1f} s after the signal"


def chat_lines(url: str, body: dict[str, object] = CHAT_LONG) -> Iterator[str]:
    """The `data:` payloads of a streaming chat completion; the first item is the job id."""
    with (
        httpx.Client(base_url=url, timeout=120) as client,
        client.stream("POST", "/v1/chat/completions", json=body) as response,
    ):
        assert response.status_code == 200, response.read()
        yield response.headers["X-Thinkstream-Job"]
        for line in response.iter_lines():
            if line.startswith("data: "):
                yield line[6:]


def test_sigterm_drains_the_gateway_open_chat_streams_finish(tmp_path: Path) -> None:
    with Stack(tmp_path, workers=1) as stack:
        # Short enough to finish within the drain even on a loaded machine (a few tokens/s).
        stream = chat_lines(stack.url, {**CHAT_LONG, "max_tokens": 96, "max_reasoning_tokens": 64})
        next(stream)
        received = [line for line, _ in zip(stream, range(3), strict=False)]
        gateway = stack.processes["gateway"]
        gateway.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        with pytest.raises(httpx.ConnectError):  # no new connections while draining
            httpx.get(f"{stack.url}/healthz", timeout=5)
        received.extend(stream)
        assert received[-1] == "[DONE]", received[-3:]
        assert json.loads(received[-2])["choices"][0]["finish_reason"] in ("stop", "length")
        assert gateway.wait(timeout=30) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal it handled


def test_a_stream_cut_at_the_end_of_the_drain_does_not_cancel_its_job(tmp_path: Path) -> None:
    with Stack(tmp_path, workers=1, env={"THINKSTREAM_DRAIN_S": "1"}) as stack:
        stream = chat_lines(stack.url)
        job_id = next(stream)
        next(stream)
        stack.processes["gateway"].send_signal(signal.SIGTERM)
        with pytest.raises(httpx.HTTPError):  # cut after 1 s, long before the 400 tokens are done
            received = list(stream)
            pytest.fail(f"the stream was not cut: it ended with {received[-1:]}")
        assert stack.processes["gateway"].wait(timeout=30) in (0, -signal.SIGTERM)
        stack.spawn("gateway", "gateway", "--host", "127.0.0.1", "--port", str(stack.port))
        stack.wait_ready()
        final = list(events(stack.url, job_id))[-1]
        assert final["type"] == "done", final
