"""Load against a real stack: 200 SSE clients on running jobs, and a burst of 1,000 submissions.

Every accepted job completes, every client gets every event once and in order, refusals are
429 (never a 5xx, never a job dropped after acceptance), and the gateway's memory stays bounded.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.stack import Stack

pytestmark = pytest.mark.integration

TINY = {"max_tokens": 6, "max_reasoning_tokens": 3}


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def follow(client: httpx.AsyncClient, job_id: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    async with client.stream("GET", f"/v1/jobs/{job_id}/events") as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                events.append(json.loads(line[5:]))
    return events


async def run_load(url: str) -> dict[str, Any]:
    # httpx's own keep-alive expiry (5 s) is kept: the gateway holds idle connections longer, so
    # reusing one is never a race with the gateway closing it.
    limits = httpx.Limits(max_connections=500, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as client:
        # 50 running jobs, 4 clients each: 200 concurrent streams.
        jobs = [
            (await client.post("/v1/jobs", json={"prompt": f"Count to {i}.", **TINY})).json()["id"] for i in range(50)
        ]
        started = time.monotonic()
        streams = await asyncio.gather(*(follow(client, job) for job in jobs for _ in range(4)))
        streams_s = time.monotonic() - started
        logs = {job: (await client.get(f"/v1/jobs/{job}")).json() for job in jobs}

        # 1,000 submissions at once.
        started = time.monotonic()
        answers = await asyncio.gather(
            *(client.post("/v1/jobs", json={"prompt": f"Say {i}.", **TINY}) for i in range(1000))
        )
        burst_s = time.monotonic() - started
        accepted = [r.json()["id"] for r in answers if r.status_code == 202]
        finals = await asyncio.gather(*(follow(client, job) for job in accepted))
        drained_s = time.monotonic() - started
    return {
        "jobs": jobs,
        "streams": streams,
        "logs": logs,
        "statuses": [r.status_code for r in answers],
        "retry_after": {r.headers.get("Retry-After") for r in answers if r.status_code == 429},
        "finals": finals,
        "streams_s": streams_s,
        "burst_s": burst_s,
        "drained_s": drained_s,
    }


@pytest.mark.timeout(600)
def test_200_streams_and_a_1000_request_burst(tmp_path: Path) -> None:
    # One test client stands for hundreds of users here, so its per-client caps are lifted.
    env = {
        "THINKSTREAM_MAX_QUEUED_JOBS": "300",
        "THINKSTREAM_STREAM_FLUSH_MS": "0",
        "THINKSTREAM_CLIENT_MAX_STREAMS": "2000",
        "THINKSTREAM_CLIENT_REQUESTS_PER_MINUTE": "100000",
    }
    with Stack(tmp_path, workers=2, env=env) as stack:
        gateway = stack.processes["gateway"].pid
        rss_before = rss_kb(gateway)
        result = asyncio.run(run_load(stack.url))
        rss_after = rss_kb(gateway)

    # Every client of a job saw the same complete stream: seq 1..n, ending in done.
    for index, events in enumerate(result["streams"]):
        seqs = [e["seq"] for e in events]
        assert seqs == list(range(1, len(seqs) + 1)), f"client {index}: {seqs}"
        assert events[-1]["type"] == "done"
    for i, job in enumerate(result["jobs"]):
        copies = result["streams"][4 * i : 4 * i + 4]
        assert all(c == copies[0] for c in copies)
        assert result["logs"][job]["status"] == "succeeded"

    statuses = result["statuses"]
    assert set(statuses) <= {202, 429}, sorted(set(statuses))
    accepted = statuses.count(202)
    assert accepted >= 250 and all(1 <= int(seconds) <= 60 for seconds in result["retry_after"])
    unfinished = [events[-3:] for events in result["finals"] if not events or events[-1]["type"] != "done"]
    assert not unfinished, f"{len(unfinished)} streams did not end in done; their last events: {unfinished[:3]}"
    assert rss_after - rss_before < 150_000, f"gateway grew by {rss_after - rss_before} kB"
    print(
        f"\n200 streams over 50 jobs: {result['streams_s']:.1f} s; burst: {accepted} accepted, "
        f"{statuses.count(429)} refused (429, Retry-After {sorted(result['retry_after'])}) in "
        f"{result['burst_s']:.1f} s, all accepted done after "
        f"{result['drained_s']:.1f} s; gateway RSS {rss_before // 1024} → {rss_after // 1024} MB"
    )
