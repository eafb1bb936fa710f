"""Job lifecycle bugs as a client meets them through the API (fakeredis, scripted engine). Each
test names the bug it guards; each failed before the job store owned job state."""

from __future__ import annotations

import json
import time

import pytest
from fastapi.testclient import TestClient

from services.postproc import job as postproc_job
from shared import keys
from shared.chat_api import ChatCompletionRequest
from shared.schemas import JobSpec
from tests.support.fake_engine import ScriptedEngine
from tests.unit.gateway.conftest import Harness
from tests.unit.gateway.test_jobs_api import read_sse, submit

THINK_LONG = [*(f"step {n}. " for n in range(40)), "</think>", "4"]
RIGHT = ["2 + 2 = 4.", "</think>", "The answer is 4."]
WRONG = ["2 + 2 = 5.", "</think>", "The answer is 5."]


def stored_spec(harness: Harness, job_id: str) -> JobSpec:
    return JobSpec.model_validate_json(harness.redis.hget(keys.job_key(job_id), "spec"))


def test_bug1_a_revision_long_after_acceptance_still_runs(make_harness: object) -> None:
    harness: Harness = make_harness(max_queue_wait_s=1)  # type: ignore[operator]
    with TestClient(harness.app) as client:
        job = submit(client, prompt="What is 2 + 2?", revise=1)
        # The question was accepted long ago; its first answer is checked and revised now.
        spec = stored_spec(harness, job["id"]).model_copy(update={"created_at": time.time() - 3600})
        harness.redis.hset(keys.job_key(job["id"]), "spec", spec.model_dump_json())
        harness.run_worker(ScriptedEngine(WRONG, RIGHT))
        view = client.get(f"/v1/jobs/{job['id']}").json()
    assert view["error"] is None, view["error"]
    assert view["status"] == "succeeded" and len(view["revisions"]) == 1 and view["answer"] == "The answer is 4."


def test_bug3_a_sample_whose_check_raises_lets_its_parent_vote(
    client: TestClient, harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = submit(client, prompt="What is 2 + 2?", samples=2)
    real = postproc_job.run_checks
    calls = {"n": 0}

    def flaky(trace: object, names: object = None) -> object:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("a check crashed")
        return real(trace)  # type: ignore[arg-type]

    monkeypatch.setattr(postproc_job, "run_checks", flaky)
    harness.run_worker(ScriptedEngine(RIGHT, RIGHT))
    types = [e["event"] for e in read_sse(client, job["events_url"])]
    assert types[-1] == "done", "the parent must vote with the sample that is left, not wait for a day"
    view = client.get(f"/v1/jobs/{job['id']}").json()
    assert sorted(s["verdict"] for s in view["samples"])[0] == "error" and view["status"] == "succeeded"


def test_bug4_samples_that_do_not_fit_the_queue_leave_nothing_behind(make_harness: object) -> None:
    harness: Harness = make_harness(max_queued_jobs=3)  # type: ignore[operator]
    with TestClient(harness.app) as client:
        submit(client, prompt="first")
        refused = client.post("/v1/jobs", json={"prompt": "What is 2 + 2?", "samples": 3})
        assert refused.status_code == 429 and refused.headers["retry-after"]
        assert harness.waiting() == 1, "no orphan sample may run"
        stored = [k for k in harness.redis.keys(keys.job_key("*")) if not k.endswith(b":events")]
        assert len(stored) == 1, "only the first question is stored"


def test_bug6_a_batch_completes_with_nobody_polling(client: TestClient, harness: Harness) -> None:
    lines = "".join(json.dumps({"custom_id": c, "question": "What is 2 + 2?"}) + "\n" for c in "ab")
    batch = client.post("/v1/batches", content=lines, headers={"content-type": "application/x-ndjson"}).json()
    harness.run_worker(ScriptedEngine(RIGHT, RIGHT))
    # Nobody has asked about the batch since it started, and it is complete.
    fields = harness.redis.hgetall(keys.batch_key(batch["id"]))
    assert b"completed_at" in fields and b"output_file_id" in fields
    # Past the jobs' TTL the answers are still there.
    for item in client.get(f"/v1/batches/{batch['id']}/results").json()["data"]:
        harness.redis.delete(keys.job_key(item["response"]["request_id"]))
    output = client.get(f"/v1/files/{fields[b'output_file_id'].decode()}/content").text.splitlines()
    assert [json.loads(line)["response"]["status_code"] for line in output] == [200, 200]


def test_bug7_not_ready_without_a_checker(client: TestClient, harness: Harness) -> None:
    harness.redis.zadd(keys.live_workers_key("inference"), {"w1": time.time()})
    response = client.get("/readyz")
    assert response.status_code == 503 and "post-processing" in response.json()["reason"]
    harness.redis.zadd(keys.live_workers_key("postproc"), {"c1": time.time()})
    assert client.get("/readyz").status_code == 200


def test_bug8_no_budget_means_no_budget_at_the_worker(client: TestClient, harness: Harness) -> None:
    job = submit(client, prompt="think hard", max_tokens=50, max_reasoning_tokens=-1)
    assert stored_spec(harness, job["id"]).max_reasoning_tokens == 50

    harness.run_worker(ScriptedEngine(THINK_LONG))
    view = client.get(f"/v1/jobs/{job['id']}").json()
    assert view["reasoning_end"] == "model" and view["usage"]["reasoning_tokens"] == 41


def test_bug8_the_default_budget_leaves_room_for_an_answer(client: TestClient, harness: Harness) -> None:
    job = submit(client, prompt="think hard", max_tokens=40)
    assert stored_spec(harness, job["id"]).max_reasoning_tokens == 30
    # Room for the budget message, which the scripted engine tokenizes a character per token.
    harness.run_worker(ScriptedEngine(THINK_LONG, ["4"]), n_ctx=512)
    view = client.get(f"/v1/jobs/{job['id']}").json()
    assert view["reasoning_end"] == "budget" and view["usage"]["reasoning_tokens"] == 30 and view["answer"] == "4"


def test_bug8_chat_no_budget_reaches_the_worker(client: TestClient, harness: Harness) -> None:
    body = {"messages": [{"role": "user", "content": "think"}], "max_tokens": 50, "reasoning_budget": -1}
    chat = harness.app.state.chat
    started = client.portal.call(chat.start, ChatCompletionRequest.model_validate(body))  # type: ignore[union-attr]
    assert stored_spec(harness, started.accepted.id).max_reasoning_tokens == 50


def test_bug8_batch_bodies_carry_rounds_passed_and_vote(client: TestClient, harness: Harness) -> None:
    line = {"custom_id": "a", "method": "POST", "url": "/v1/chat/completions"}
    line["body"] = {"messages": [{"role": "user", "content": "What is 2 + 2?"}], "revise": 1}  # type: ignore[assignment]
    batch = client.post(
        "/v1/batches", content=json.dumps(line) + "\n", headers={"content-type": "application/x-ndjson"}
    )
    harness.run_worker(ScriptedEngine(WRONG, RIGHT))
    result = client.get(f"/v1/batches/{batch.json()['id']}/results").json()["data"][0]
    info = result["response"]["body"]["thinkstream"]
    assert info["rounds"] == 2 and info["passed"] is True


def test_bug8_a_batch_items_job_is_visible_to_the_key_that_owns_the_batch(make_harness: object) -> None:
    harness: Harness = make_harness()  # type: ignore[operator]

    @harness.app.middleware("http")
    async def key_id(request, call_next):  # type: ignore[no-untyped-def]
        request.state.key_id = request.headers.get("x-test-key")
        return await call_next(request)

    with TestClient(harness.app) as client:
        lines = json.dumps({"custom_id": "a", "question": "What is 2 + 2?"}) + "\n"
        headers = {"content-type": "application/x-ndjson", "x-test-key": "alice"}
        batch = client.post("/v1/batches", content=lines, headers=headers).json()
        harness.run_worker(ScriptedEngine(RIGHT))
        page = client.get(f"/v1/batches/{batch['id']}/results", headers={"x-test-key": "alice"}).json()
        job_id = page["data"][0]["response"]["request_id"]
        assert client.get(f"/v1/jobs/{job_id}", headers={"x-test-key": "alice"}).status_code == 200
        assert client.get(f"/v1/jobs/{job_id}", headers={"x-test-key": "mallory"}).status_code == 404
