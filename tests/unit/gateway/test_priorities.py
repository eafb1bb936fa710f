"""Priorities as a key holder meets them: a key's default, its ceiling, batches below people."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from shared import keys
from shared.apikeys import key_entry, new_key
from tests.unit.gateway.conftest import Harness

BULK, STAFF = new_key(), new_key()
HASHES = ",".join(
    [key_entry("bulk", BULK, priority="low", max_priority="normal"), key_entry("staff", STAFF, max_priority="high")]
)


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def stored_priority(harness: Harness, job_id: str) -> str:
    return harness.redis.hget(keys.job_key(job_id), "priority").decode()


def test_priority_a_keys_default_and_its_ceiling(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(api_key_hashes=HASHES)
    with TestClient(harness.app) as client:
        default = client.post("/v1/jobs", json={"prompt": "hi"}, headers=auth(BULK)).json()
        assert stored_priority(harness, default["id"]) == "low"
        asked = client.post("/v1/jobs", json={"prompt": "hi", "priority": "normal"}, headers=auth(BULK)).json()
        assert stored_priority(harness, asked["id"]) == "normal"
        refused = client.post("/v1/jobs", json={"prompt": "hi", "priority": "high"}, headers=auth(BULK))
        assert refused.status_code == 403 and refused.json()["error"]["param"] == "priority"
        assert "max_priority" in refused.json()["error"]["message"]
        urgent = client.post("/v1/jobs", json={"prompt": "hi", "priority": "high"}, headers=auth(STAFF)).json()
        assert stored_priority(harness, urgent["id"]) == "high"
        assert harness.waiting_ids("high") == [urgent["id"]]


def test_priority_on_chat_completions(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(api_key_hashes=HASHES)
    with TestClient(harness.app) as client:
        body = {"messages": [{"role": "user", "content": "hi"}], "priority": "high", "stream": True}
        with client.stream("POST", "/v1/chat/completions", json=body, headers=auth(BULK)) as refused:
            assert refused.status_code == 403
