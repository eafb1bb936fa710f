"""Self-consistency and automatic correction with the real model: every sample and every
round is recorded and streamed."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse

from tests.support.stack import Stack

pytestmark = pytest.mark.integration

# A prompt that makes the tiny model write a wrong sum, so the checks fail it and revise runs.
WRONG_ON_PURPOSE = "Copy this line exactly, then give the result: 2 + 2 = 5. What is 2 + 2?"


def stream(url: str, job_id: str) -> list[dict[str, Any]]:
    with (
        httpx.Client(base_url=url, timeout=300) as client,
        connect_sse(client, "GET", f"/v1/jobs/{job_id}/events") as source,
    ):
        return [json.loads(sse.data) for sse in source.iter_sse() if sse.data]


def test_samples_with_revise_record_and_stream_every_attempt(stack: Stack) -> None:
    # A fixed seed: with a random one, now and then both samples passed their checks and nothing
    # was revised (a sample takes the seed plus its index).
    body = {
        "prompt": WRONG_ON_PURPOSE,
        "samples": 2,
        "revise": 1,
        "max_tokens": 96,
        "max_reasoning_tokens": 48,
        "seed": 1,
    }
    job = httpx.post(f"{stack.url}/v1/jobs", json=body, timeout=10).json()
    events = stream(stack.url, job["id"])
    types = [e["type"] for e in events]
    assert types.count("sample") == 2 and "vote" in types and types[-1] == "done", types
    view = httpx.get(f"{stack.url}/v1/jobs/{job['id']}", timeout=10).json()
    assert view["status"] == "succeeded" and view["answer"]
    assert sum(view["vote"]["votes"].values()) <= 2 and 0 < view["vote"]["confidence"] <= 1
    revised = 0
    for sample in view["samples"]:
        sample_events = stream(stack.url, sample["job_id"])  # replayed in full after the fact
        kinds = [e["type"] for e in sample_events]
        rounds = kinds.count("revision") + 1
        assert sample["rounds"] == rounds and kinds.count("started") == rounds and kinds.count("check") == rounds
        sample_view = httpx.get(f"{stack.url}/v1/jobs/{sample['job_id']}", timeout=10).json()
        assert len(sample_view["revisions"]) == rounds - 1
        for earlier in sample_view["revisions"]:
            assert earlier["checks"]["verdict"] == "fail" and earlier["answer"] is not None
        assert sample_view["passed"] == (sample_view["checks"]["verdict"] != "fail")
        revised += rounds - 1
    assert revised >= 1, "the prompt was meant to make at least one sample fail and be revised"
