"""Waiting for a worker, on a real stack (real redis-server, two real workers on the real SmolLM2
GGUF): the stream of a waiting job hears its place fall and when it should start, and a
high-priority question overtakes the low-priority work queued before it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from httpx_sse import connect_sse

from tests.support.stack import Stack

pytestmark = pytest.mark.integration

TINY = {"max_tokens": 16, "max_reasoning_tokens": 8}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with Stack(Path(tmp_path_factory.mktemp("waiting")), workers=2) as running:
        yield running


@pytest.fixture
def client(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.url, timeout=120) as http:
        yield http


def ask(client: httpx.Client, prompt: str, **fields: object) -> str:
    response = client.post("/v1/jobs", json={"prompt": prompt, **fields})
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def events(client: httpx.Client, job_id: str, until: str) -> list[dict[str, object]]:
    seen = []
    with connect_sse(client, "GET", f"/v1/jobs/{job_id}/events") as source:
        for sse in source.iter_sse():
            if sse.data:
                seen.append(json.loads(sse.data))
                if seen[-1]["type"] in (until, "done", "error", "canceled"):
                    return seen
    return seen


def wait_running(client: httpx.Client, job_ids: list[str]) -> None:
    deadline = time.monotonic() + 60
    while any(client.get(f"/v1/jobs/{j}").json()["status"] == "queued" for j in job_ids):
        assert time.monotonic() < deadline, "the workers did not take the jobs"
        time.sleep(0.1)


def wait_ended(client: httpx.Client, job_ids: list[str]) -> None:
    deadline = time.monotonic() + 240
    for job_id in job_ids:
        while client.get(f"/v1/jobs/{job_id}").json()["status"] in ("queued", "running", "checking"):
            assert time.monotonic() < deadline, "the jobs did not finish"
            time.sleep(0.2)


def started_at(client: httpx.Client, job_id: str) -> float:
    found = [e for e in events(client, job_id, "started") if e["type"] == "started"]
    assert found, f"job {job_id} never started"
    return float(found[0]["ts"])  # type: ignore[arg-type]


def test_waiting_queue_updates_arrive_with_falling_positions(client: httpx.Client) -> None:
    wait_ended(client, [ask(client, "Say hello.", **TINY)])  # a finished job: the workers' pace is known
    busy = [
        ask(client, "Count from one to fifty in words.", max_tokens=160, max_reasoning_tokens=120),
        ask(client, "Count from one to ninety in words.", max_tokens=320, max_reasoning_tokens=260),
    ]
    wait_running(client, busy)
    # Jobs ahead long enough (about 2 s each) that each step of the line outlasts the least
    # interval between two updates of one job: a 48-token one ended before its step was sent.
    ahead = [
        ask(client, f"Count from one to thirty in words ({n}).", max_tokens=192, max_reasoning_tokens=128)
        for n in range(2)
    ]
    mine = ask(client, "What is 2 + 2?", **TINY)
    seen = events(client, mine, "started")
    updates = [e for e in seen if e["type"] == "queued"][1:]  # after the place given at acceptance
    positions = [int(e["position"]) for e in updates]  # type: ignore[call-overload]
    assert len(updates) >= 2, f"updates: {updates}"
    # Falling as the workers take the jobs ahead (two taken within a second show as one step).
    assert positions == sorted(positions, reverse=True) and positions[0] > positions[-1], positions
    assert all(e["eta_s"] is not None for e in updates), "every update carries an expected start"
    assert float(updates[0]["eta_s"]) > 0  # type: ignore[arg-type]
    assert seen[-1]["type"] == "started"
    wait_ended(client, [*busy, *ahead, mine])


def test_waiting_a_high_priority_question_overtakes_queued_low_work(client: httpx.Client) -> None:
    busy = [ask(client, f"Count from one to forty in words ({n}).", max_tokens=120) for n in range(2)]
    wait_running(client, busy)
    low = [ask(client, f"Say {n}.", priority="low", **TINY) for n in range(4)]
    high = ask(client, "What is 3 + 4?", priority="high", **TINY)
    wait_ended(client, [*busy, *low, high])
    order = sorted([*low, high], key=lambda job_id: started_at(client, job_id))
    assert order[0] == high, "the high-priority question waited behind low-priority work queued before it"
