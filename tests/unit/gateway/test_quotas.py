"""Per-API-key limits: requests per minute and queued jobs, shared by every gateway replica."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import fakeredis
from fastapi.testclient import TestClient

from services.gateway.app import create_app
from shared.apikeys import key_digest, new_key
from shared.settings import Settings
from tests.support.fake_engine import ScriptedEngine
from tests.unit.gateway.conftest import Harness, WordCounter

KEY_A, KEY_B = new_key(), new_key()
HASHES = f"alice:{key_digest(KEY_A)}\nbob:{key_digest(KEY_B)}"
A = {"Authorization": f"Bearer {KEY_A}"}
B = {"Authorization": f"Bearer {KEY_B}"}
QUESTION = {"prompt": "What is 12 times 7?"}


def assert_rate_limited(response: object, *, retry_after_max: int) -> str:
    assert response.status_code == 429, response.text  # type: ignore[attr-defined]
    error = response.json()["error"]  # type: ignore[attr-defined]
    assert (error["type"], error["code"]) == ("rate_limit_error", "rate_limit_exceeded")
    assert 1 <= int(response.headers["retry-after"]) <= retry_after_max  # type: ignore[attr-defined]
    message: str = error["message"]
    return message


def test_quota_requests_per_minute_per_key(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(api_key_hashes=HASHES, key_requests_per_minute=3)
    with TestClient(harness.app) as client:
        for _ in range(3):
            assert client.get("/v1/models", headers=A).status_code == 200
        message = assert_rate_limited(client.get("/v1/models", headers=A), retry_after_max=60)
        assert "'alice'" in message and "3 requests" in message and "THINKSTREAM_KEY_REQUESTS_PER_MINUTE" in message
        assert_rate_limited(client.post("/v1/jobs", json=QUESTION, headers=A), retry_after_max=60)
        assert client.get("/v1/models", headers=B).status_code == 200, "another key has its own count"
        for _ in range(5):
            assert client.get("/healthz").status_code == 200, "probes are never limited"


def test_quota_requests_are_counted_across_gateway_replicas(tmp_path: Path) -> None:
    """Two gateways on one Redis share each key's count."""
    server = fakeredis.FakeServer()
    settings = Settings(redis_url="redis://fake", data_dir=tmp_path, api_key_hashes=HASHES, key_requests_per_minute=4)

    def replica() -> TestClient:
        return TestClient(
            create_app(
                settings,
                redis=fakeredis.FakeAsyncRedis(server=server),
                sync_redis=fakeredis.FakeRedis(server=server),
                counter=WordCounter(),
            )
        )

    with replica() as first, replica() as second:
        for client in (first, second, first, second):
            assert client.get("/v1/models", headers=A).status_code == 200
        assert_rate_limited(first.get("/v1/models", headers=A), retry_after_max=60)
        assert_rate_limited(second.get("/v1/models", headers=A), retry_after_max=60)


def test_quota_queued_jobs_per_key(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(api_key_hashes=HASHES, key_max_queued_jobs=2)
    with TestClient(harness.app) as client:
        jobs = [client.post("/v1/jobs", json=QUESTION, headers=A) for _ in range(2)]
        assert [r.status_code for r in jobs] == [202, 202]
        refused = client.post("/v1/jobs", json=QUESTION, headers=A)
        message = assert_rate_limited(refused, retry_after_max=5)
        assert "2 jobs waiting" in message and "THINKSTREAM_KEY_MAX_QUEUED_JOBS" in message
        chat = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]}, headers=A)
        assert_rate_limited(chat, retry_after_max=5)
        assert client.post("/v1/jobs", json=QUESTION, headers=B).status_code == 202, "another key has its own"
        # A cancelled job no longer waits: its slot is free again.
        assert client.delete(f"/v1/jobs/{jobs[0].json()['id']}", headers=A).status_code == 202
        assert client.post("/v1/jobs", json=QUESTION, headers=A).status_code == 202
        assert client.post("/v1/jobs", json=QUESTION, headers=A).status_code == 429
        # Jobs a worker took no longer wait either.
        harness.run_worker(ScriptedEngine(*[["4", "</think>", "4"]] * 4))
        assert [client.post("/v1/jobs", json=QUESTION, headers=A).status_code for _ in range(3)] == [202, 202, 429]


def test_quota_no_per_key_limits_without_keys(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(key_max_queued_jobs=1, key_requests_per_minute=1)
    with TestClient(harness.app) as client:
        assert [client.post("/v1/jobs", json=QUESTION).status_code for _ in range(3)] == [202, 202, 202]
