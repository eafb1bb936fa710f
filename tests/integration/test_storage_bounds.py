"""One key cannot fill the service: its uploads stop at its quota, the bytes live on disk rather
than in Redis, and another key's question is still answered. Past the Redis memory budget, new
work is refused with 503 instead of Redis failing every write. Real stack, real model."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from httpx_sse import connect_sse

from shared.apikeys import key_entry, new_key
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

ALICE, BOB = new_key(), new_key()
MiB = 1 << 20
QUESTION = {"prompt": "What is 2 + 3?", "max_tokens": 32, "max_reasoning_tokens": 16}


def test_storage_a_key_at_its_quota_leaves_the_service_to_others(tmp_path: Path) -> None:
    env = {
        "THINKSTREAM_API_KEY_HASHES": f"{key_entry('alice', ALICE)},{key_entry('bob', BOB)}",
        "THINKSTREAM_BATCH_MAX_BYTES": str(9 * MiB),
        "THINKSTREAM_KEY_MAX_STORED_MB": "24",
        "THINKSTREAM_FILES_DIR": str(tmp_path / "files"),
    }
    upload = b'{"custom_id": "x", "question": "hi"}\n' + b" " * (8 * MiB - 64) + b"\n"
    with Stack(tmp_path, env=env) as stack:
        alice = httpx.Client(base_url=stack.url, headers={"Authorization": f"Bearer {ALICE}"}, timeout=60)
        bob = httpx.Client(base_url=stack.url, headers={"Authorization": f"Bearer {BOB}"}, timeout=60)
        with alice, bob:
            statuses = []
            for n in range(5):
                sent = alice.post("/v1/files", files={"file": (f"in{n}.jsonl", upload)}, data={"purpose": "batch"})
                statuses.append(sent.status_code)
            assert statuses == [200, 200, 200, 429, 429], statuses
            refused = alice.post("/v1/files", files={"file": ("more.jsonl", upload)}, data={"purpose": "batch"})
            assert refused.json()["error"]["code"] == "storage_quota_exceeded"
            assert "THINKSTREAM_KEY_MAX_STORED_MB" in refused.json()["error"]["message"]

            with stack.redis.client() as redis:
                used = int(redis.info("memory")["used_memory"])
            assert used < 8 * MiB, f"the uploads went into Redis ({used} bytes used)"
            assert len(list((tmp_path / "files").iterdir())) == 3

            job = bob.post("/v1/jobs", json=QUESTION)
            assert job.status_code == 202, job.text
            with connect_sse(bob, "GET", job.json()["events_url"]) as source:
                types = [json.loads(sse.data)["type"] for sse in source.iter_sse() if sse.data]
            assert types[-1] == "done"

            # Deleting a file gives its room back.
            first = alice.get("/v1/files").json()["data"][-1]["id"]
            assert alice.delete(f"/v1/files/{first}").json()["deleted"]
            again = alice.post("/v1/files", files={"file": ("again.jsonl", upload)}, data={"purpose": "batch"})
            assert again.status_code == 200


def test_storage_past_the_memory_budget_new_work_waits(tmp_path: Path) -> None:
    with Stack(tmp_path, env={"THINKSTREAM_REDIS_MEMORY_BUDGET_MB": "1"}) as stack:
        # A Redis just started holds about 1 MiB: fill it past the budget for certain.
        stack.redis.client().set("ballast", b"x" * (2 << 20))
        refused = httpx.post(f"{stack.url}/v1/jobs", json=QUESTION, timeout=30)
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["code"] == "storage_full" and refused.headers["retry-after"]
        assert "THINKSTREAM_REDIS_MEMORY_BUDGET_MB" in refused.json()["error"]["message"]
