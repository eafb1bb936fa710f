"""What the worker receives for a job: its owner (the KV cache's scope) and the operator's system
prompt first."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from shared.apikeys import key_digest, new_key
from tests.support.fake_engine import ScriptedEngine
from tests.unit.gateway.conftest import Harness


def test_the_worker_runs_each_job_for_its_owner_with_the_system_prompt(make_harness: Callable[..., Harness]) -> None:
    key_a, key_b = new_key(), new_key()
    harness = make_harness(
        api_key_hashes=f"alice:{key_digest(key_a)},bob:{key_digest(key_b)}", system_prompt="House rules."
    )
    engine = ScriptedEngine(["Fine."], ["Fine."])
    with TestClient(harness.app) as client:
        for key in (key_a, key_b):
            answer = client.post("/v1/jobs", json={"prompt": "Hello?"}, headers={"Authorization": f"Bearer {key}"})
            assert answer.status_code == 202, answer.text
        harness.run_worker(engine)
    assert engine.owners == ["alice", "bob"]
    assert [[(m.role, m.content) for m in prompt] for prompt in engine.prompts] == [
        [("system", "House rules."), ("user", "Hello?")]
    ] * 2
