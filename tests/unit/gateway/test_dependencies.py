"""A request's dependencies run on the event loop: FastAPI runs a plain `def` dependency in its
thread pool, and the hop there and back (for what is an attribute lookup) was paid two or three
times by every request, the first token's included."""

from __future__ import annotations

from typing import Any

import fastapi.dependencies.utils
import pytest
from fastapi.testclient import TestClient

from tests.support.fake_engine import ScriptedEngine
from tests.unit.gateway.conftest import Harness
from tests.unit.gateway.test_jobs_api import SCRIPT, read_sse


def test_no_dependency_of_the_main_routes_hops_to_a_thread(
    client: TestClient, harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    hops: list[str] = []
    pooled = fastapi.dependencies.utils.run_in_threadpool

    async def recorded(call: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(getattr(call, "__qualname__", repr(call)))
        return await pooled(call, *args, **kwargs)

    monkeypatch.setattr(fastapi.dependencies.utils, "run_in_threadpool", recorded)
    job = client.post("/v1/jobs", json={"prompt": "What is 12 times 7?"}).json()
    harness.run_worker(ScriptedEngine(SCRIPT))
    assert [e["event"] for e in read_sse(client, job["events_url"])][-1] == "done"
    assert client.get(f"/v1/jobs/{job['id']}").json()["status"] == "succeeded"
    # More tokens than the context holds: refused at once, after the dependencies ran.
    chat = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 10_000}
    assert client.post("/v1/chat/completions", json=chat).status_code == 413
    client.post("/api/chat", json={"model": harness.pool, "messages": []})
    client.get("/v1/models")
    assert not hops, f"plain `def` dependencies ran in FastAPI's thread pool: {hops}"
