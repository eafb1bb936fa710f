"""Losing the Redis primary: a primary, a replica and three Sentinels (the private redis-server
binary), two inference workers, a gateway and a checker, all on `redis+sentinel://`. With jobs
queued, running and streaming and a batch waiting, the primary is SIGKILLed: every accepted job
finishes, every stream delivers seq 1..n exactly once, and new work is accepted on the promoted
replica."""

from __future__ import annotations

import asyncio
import json
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse

from services.runtime.redis_client import connect, connect_async
from shared import keys
from tests.support.ha_redis import HaRedis
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

BODY = {"prompt": "Explain step by step how to multiply 123 by 456.", "max_tokens": 160, "max_reasoning_tokens": 100}


def submit(url: str, body: dict[str, Any] = BODY) -> str:
    response = httpx.post(f"{url}/v1/jobs", json=body, timeout=30)
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def events(url: str, job_id: str) -> Iterator[dict[str, Any]]:
    with (
        httpx.Client(base_url=url, timeout=240) as client,
        connect_sse(client, "GET", f"/v1/jobs/{job_id}/events") as source,
    ):
        for sse in source.iter_sse():
            if sse.data:
                yield json.loads(sse.data)


def test_primary_sigkill_every_accepted_job_finishes_and_every_stream_delivers_each_seq_once(tmp_path: Path) -> None:
    with HaRedis(tmp_path / "redis") as ha, Stack(tmp_path, workers=2, redis=ha) as stack:
        batch = httpx.post(
            f"{stack.url}/v1/batches",
            content="".join(
                json.dumps({"custom_id": f"b{i}", "question": f"What is {i} + 2?", "max_tokens": 24}) + "\n"
                for i in range(2)
            ),
            headers={"content-type": "application/x-ndjson"},
            timeout=30,
        )
        assert batch.status_code == 200, batch.text
        jobs = [submit(stack.url) for _ in range(5)]  # two run at once, three wait
        streams: dict[str, list[tuple[float, dict[str, Any]]]] = {job: [] for job in jobs}

        def follow(job: str) -> None:
            for event in events(stack.url, job):
                streams[job].append((time.monotonic(), event))

        readers = [threading.Thread(target=follow, args=(job,), daemon=True) for job in jobs]
        for reader in readers:
            reader.start()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            streaming = [j for j in jobs if sum(e["type"] == "reasoning" for _, e in streams[j]) >= 3]
            if len(streaming) >= 2:
                break
            time.sleep(0.05)
        assert len(streaming) >= 2, "two jobs should be streaming before the kill"

        killed_at = time.monotonic()
        ha.primary.kill()
        for reader in readers:
            reader.join(240)
        ha.wait_failover()

        moved_after_s = []
        for job in jobs:
            seen = [e for _, e in streams[job]]
            types = [e["type"] for e in seen]
            assert types[-1] == "done", (job, types)
            assert [e["seq"] for e in seen] == list(range(1, len(seen) + 1)), job
            assert "retry" not in types, "no worker was taken for dead while Redis failed over"
            view = httpx.get(f"{stack.url}/v1/jobs/{job}", timeout=30).json()
            reasoning = "".join(e["text"] for e in seen if e["type"] == "reasoning")
            assert (view["reasoning"], view["status"]) == (reasoning, "succeeded")
            after = [at for at, _ in streams[job] if at > killed_at]
            if job in streaming and after:
                moved_after_s.append(after[0] - killed_at)

        # New work is accepted and done on the promoted replica; the batch finished too.
        last = submit(stack.url, {**BODY, "max_tokens": 24})
        assert list(events(stack.url, last))[-1]["type"] == "done"
        batch_id = batch.json()["id"]
        deadline = time.monotonic() + 120
        while (state := httpx.get(f"{stack.url}/v1/batches/{batch_id}", timeout=30).json())["status"] != "completed":
            assert time.monotonic() < deadline, state
            time.sleep(0.3)
        assert state["request_counts"]["completed"] == 2
        with ha.client() as redis:  # nothing is left counted as waiting (the per-key quotas)
            assert redis.zcard(keys.waiting_key("interactive")) == 0
            assert redis.zcard(keys.waiting_key("batch")) == 0
        print(
            f"\nprimary SIGKILL → running streams moving again: median {statistics.median(moved_after_s):.1f} s, "
            f"max {max(moved_after_s):.1f} s ({len(moved_after_s)} streams)"
        )


# A command in flight when the primary dies (a worker's read of a job's flags, a gateway's) is
# retried on the connection it had: it must ask the Sentinels again, not knock on the lost
# primary until its retries run out (redis-py's retry reconnects to the address it had).
RETRIES = 12
"""About 15 s of backoff: ample for this failover (about 3 s), far short of a stuck client's."""


def test_a_command_in_flight_when_the_primary_dies_goes_on_on_the_promoted_replica(tmp_path: Path) -> None:
    with HaRedis(tmp_path / "redis") as ha, connect(ha.url, retries=RETRIES) as redis:
        redis.set("before", 1)
        outcome: list[object] = []

        def wait() -> None:
            try:
                outcome.append(redis.blpop(["never"], timeout=3))
            except Exception as exc:  # the test reports it
                outcome.append(exc)

        waiting = threading.Thread(target=wait, daemon=True)
        waiting.start()
        time.sleep(0.5)  # BLPOP is on the wire
        ha.primary.kill()
        waiting.join(60)
        assert outcome == [None], outcome  # re-sent to the promoted replica, timed out there
        assert ha.primary_port() == ha.replica.port
        assert redis.get("before") == b"1" and redis.set("after", 1)


def test_an_async_command_in_flight_when_the_primary_dies_goes_on_on_the_promoted_replica(tmp_path: Path) -> None:
    async def scenario(ha: HaRedis) -> object:
        redis = connect_async(ha.url, retries=RETRIES)
        try:
            await redis.set("before", 1)
            waiting = asyncio.create_task(redis.blpop(["never"], timeout=3))
            await asyncio.sleep(0.5)
            ha.primary.kill()
            try:
                outcome = await asyncio.wait_for(waiting, 60)
            except Exception as exc:  # the test reports it
                outcome = exc
            assert await redis.get("before") == b"1"
            return outcome
        finally:
            await redis.aclose()

    with HaRedis(tmp_path / "redis") as ha:
        assert asyncio.run(scenario(ha)) is None
        assert ha.primary_port() == ha.replica.port
