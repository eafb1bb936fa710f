"""The core pipeline against a real redis-server, real worker processes and the real SmolLM2 GGUF."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import redis
from httpx_sse import connect_sse

from services.runtime.redis_server import free_port
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

QUESTION = {
    "prompt": "A farmer has 3 pens with 4 sheep each. How many sheep?",
    "max_tokens": 160,
    "max_reasoning_tokens": 80,
}


def stream(
    url: str, path: str, *, last_event_id: int | None = None, limit: int | None = None
) -> list[dict[str, object]]:
    headers = {} if last_event_id is None else {"Last-Event-ID": str(last_event_id)}
    events = []
    with httpx.Client(base_url=url, timeout=60) as client, connect_sse(client, "GET", path, headers=headers) as source:
        for sse in source.iter_sse():
            if not sse.data:  # a keep-alive comment
                continue
            event = json.loads(sse.data)
            assert sse.id == str(event["seq"]) and sse.event == event["type"]
            events.append(event)
            if limit is not None and len(events) >= limit:
                break
    return events


def submit(stack: Stack, body: dict[str, object] = QUESTION) -> dict[str, object]:
    response = httpx.post(f"{stack.url}/v1/jobs", json=body, timeout=10)
    assert response.status_code == 202, response.text
    return response.json()


def test_pipeline_streams_reasoning_then_answer_then_check(stack: Stack) -> None:
    job = submit(stack)
    events = stream(stack.url, job["events_url"])
    types = [e["type"] for e in events]
    assert types[0] == "queued" and types[1] == "started"
    assert types[-2:] == ["check", "done"]
    first_answer = types.index("answer")
    assert set(types[2:first_answer]) == {"reasoning"}
    assert set(types[first_answer:-2]) == {"answer"}
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    reasoning = "".join(e["text"] for e in events if e["type"] == "reasoning")
    answer = "".join(e["text"] for e in events if e["type"] == "answer")
    assert reasoning.strip() and answer.strip()
    assert "<think>" not in reasoning + answer and "</think>" not in reasoning + answer

    view = httpx.get(f"{stack.url}/v1/jobs/{job['id']}").json()
    assert view["status"] == "succeeded"
    assert (view["reasoning"], view["answer"]) == (reasoning, answer)
    assert view["checks"]["verdict"] in ("pass", "fail", "unsure")
    assert view["checks"] == events[-2]["report"]
    usage, timings = view["usage"], view["timings"]
    assert usage["prompt_tokens"] == job["prompt_tokens"]
    assert 0 < usage["reasoning_tokens"] <= 80
    assert usage["reasoning_tokens"] + usage["answer_tokens"] <= 160
    # Speed is the benchmarks' business (bench/); here only that the figures are consistent.
    assert 0 < timings["ttft_ms"] <= timings["total_ms"] and timings["tokens_per_s"] > 0


def test_pipeline_reconnect_with_last_event_id_gets_exactly_the_rest(stack: Stack) -> None:
    job = submit(stack, {**QUESTION, "max_tokens": 200, "max_reasoning_tokens": 120})
    head = stream(stack.url, job["events_url"], limit=6)
    rest = stream(stack.url, job["events_url"], last_event_id=head[-1]["seq"])
    assert rest[0]["seq"] == head[-1]["seq"] + 1
    assert rest[-1]["type"] == "done"
    everything = stream(stack.url, job["events_url"])
    assert head + rest == everything


def test_pipeline_greedy_jobs_with_the_same_seed_are_reproducible(stack: Stack) -> None:
    body = {**QUESTION, "seed": 7}
    first, second = submit(stack, body), submit(stack, body)
    stream(stack.url, second["events_url"])
    a = httpx.get(f"{stack.url}/v1/jobs/{first['id']}").json()
    b = httpx.get(f"{stack.url}/v1/jobs/{second['id']}").json()
    assert (a["reasoning"], a["answer"]) == (b["reasoning"], b["answer"])


def test_pipeline_prompt_longer_than_the_context_is_413(stack: Stack) -> None:
    response = httpx.post(f"{stack.url}/v1/jobs", json={"prompt": "sheep " * 5000}, timeout=30)
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["prompt_tokens"] > error["max_prompt_tokens"] and error["n_ctx"] == 4096


def test_gateway_keeps_an_idle_connection_longer_than_clients_do(stack: Stack) -> None:
    # Clients (httpx: 5 s) drop idle connections before the gateway does, so reusing one is never
    # a race with the gateway closing it, which the client would see as a dropped request.
    limits = httpx.Limits(keepalive_expiry=60)
    with httpx.Client(base_url=stack.url, timeout=10, limits=limits) as client:
        sockets = []
        for pause in (0, 6):
            time.sleep(pause)
            response = client.get("/healthz")
            assert response.status_code == 200
            sockets.append(response.extensions["network_stream"].get_extra_info("socket").getsockname())
    assert sockets[0] == sockets[1], "the gateway closed an idle connection after less than 6 s"


def test_pipeline_cancel_stops_a_running_generation(stack: Stack) -> None:
    job = submit(stack, {"prompt": "Write a very long story.", "max_tokens": 3000, "max_reasoning_tokens": 2900})
    head = stream(stack.url, job["events_url"], limit=5)
    assert head[-1]["type"] == "reasoning"
    assert httpx.delete(f"{stack.url}/v1/jobs/{job['id']}").status_code == 202
    rest = stream(stack.url, job["events_url"], last_event_id=head[-1]["seq"])
    assert rest[-1]["type"] == "canceled"
    view = httpx.get(f"{stack.url}/v1/jobs/{job['id']}").json()
    assert view["status"] == "canceled"
    assert view["usage"]["reasoning_tokens"] == 0  # no `done`: it never finished
    assert len(rest) < 50  # stopped within a few tokens, not after 2,900


def test_pipeline_ask_prints_reasoning_answer_timings_and_verdict(stack: Stack) -> None:
    limits = ["--max-tokens", "120", "--max-reasoning-tokens", "60"]
    result = subprocess.run(
        [sys.executable, "-m", "services.cli", "ask", QUESTION["prompt"], "--url", stack.url, *limits],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Thinking" in out and "Answer" in out
    assert "first token" in out and "tokens/s" in out
    assert "check:" in out


def test_up_starts_everything_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "up", "--port", str(port), "--workers", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path,
        env={**os.environ, "THINKSTREAM_DATA_DIR": str(tmp_path / "data")},
    )  # fmt: skip
    lines = []
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 90
        for line in process.stdout:
            lines.append(line)
            if "is ready at" in line or time.monotonic() > deadline:
                break
        assert f"ready at http://127.0.0.1:{port}" in lines[-1], "".join(lines)
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz").json()
        assert ready["workers"] == 2
        data = tmp_path / "data" / "redis"  # Redis persists with AOF (a file before Redis 7, a folder after)
        assert (data / "appendonly.aof").is_file() or (data / "appendonlydir").is_dir()
        # Locked down: only its owner can read the data, the password never shows.
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        for path in data.rglob("*"):
            assert stat.S_IMODE(path.stat().st_mode) in (0o600, 0o700), path
        url = (data / "redis.url").read_text().strip()
        password = url.split(":")[2].split("@")[0]
        assert len(password) >= 32 and password not in "".join(lines)
        with pytest.raises(redis.exceptions.AuthenticationError):
            redis.Redis.from_url(url.replace(password, "wrong")).ping()
        assert redis.Redis.from_url(url).ping()
        process.send_signal(signal.SIGTERM)
        rest, _ = process.communicate(timeout=30)
        assert process.returncode == 0
        assert "killed" not in rest, rest  # every service stopped by itself, idle workers included
    finally:
        if process.poll() is None:
            process.kill()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/healthz")


def test_up_stops_cleanly_on_ctrl_c_at_a_terminal(tmp_path: Path) -> None:
    """A Ctrl-C sends SIGINT to the terminal's whole foreground group: every service must stop by
    itself, soon. Redis got it too, stopped first, and a worker's shutdown then retried it until
    `up` killed the worker 15 s later (about every other time)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "up", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path,
        env={**os.environ, "THINKSTREAM_DATA_DIR": str(tmp_path / "data")},
        start_new_session=True,  # its own group, as a terminal's foreground job
    )  # fmt: skip
    try:
        assert process.stdout is not None
        lines = []
        deadline = time.monotonic() + 90
        for line in process.stdout:
            lines.append(line)
            if "is ready at" in line or time.monotonic() > deadline:
                break
        assert "is ready at" in lines[-1], "".join(lines)
        url = (tmp_path / "data" / "redis" / "redis.url").read_text().strip()
        redis_pid = int(redis.Redis.from_url(url).info()["process_id"])
        os.killpg(process.pid, signal.SIGINT)
        stopping = time.monotonic()
        rest, _ = process.communicate(timeout=30)
        assert process.returncode == 0, rest
        assert "killed" not in rest, rest
        assert time.monotonic() - stopping < 10, rest
        with pytest.raises(ProcessLookupError):
            os.kill(redis_pid, 0)  # Redis was stopped too, after the services
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(NameError, ProcessLookupError):
            os.kill(redis_pid, signal.SIGKILL)  # its own group: not in the one above
