"""Self-consistency and automatic correction end to end on fakeredis with a scripted engine."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from services.postproc.vote import answer_key, tally
from services.store.queues import rq_queue
from shared import keys
from shared.schemas import JobSpec, SampleView
from tests.support.fake_engine import ScriptedEngine
from tests.unit.gateway.conftest import Harness
from tests.unit.gateway.test_jobs_api import read_sse, submit

WRONG = ["We add: 2 + 2 = 5.", "</think>", "The answer is 5."]
RIGHT = ["We add: 2 + 2 = 4.", "</think>", "The answer is 4."]


def drain(harness: Harness, engine: ScriptedEngine) -> None:
    """Run workers until no inference or check job is left (revisions and votes queue more)."""
    for _ in range(10):
        if not harness.waiting() and not rq_queue(keys.POSTPROC_QUEUE, harness.redis).count:
            return
        harness.run_worker(engine)


def test_revise_retries_a_failed_answer_and_keeps_every_round(client: TestClient, harness: Harness) -> None:
    job = submit(client, prompt="What is 2 + 2?", revise=2)
    engine = ScriptedEngine(WRONG, RIGHT)
    drain(harness, engine)
    events = [json.loads(e["data"]) for e in read_sse(client, job["events_url"])]
    types = [e["type"] for e in events]
    assert types.count("started") == 2 and types.count("check") == 2 and types.count("revision") == 1
    revision = next(e for e in events if e["type"] == "revision")
    assert revision["round"] == 1 and any("5" in f["message"] for f in revision["findings"])
    assert events[-1]["type"] == "done" and events[-1]["rounds"] == 2 and events[-1]["passed"] is True
    # The model saw its failed answer, its reasoning and the findings.
    spec = JobSpec.model_validate_json(harness.redis.hget(keys.job_key(job["id"]), "spec"))
    assert [m.role for m in spec.messages] == ["user", "assistant", "user"]
    assert spec.messages[1].content == "The answer is 5."
    assert "you wrote 2 + 2 = 5, but 2 + 2 = 4." in spec.messages[2].content  # told where and what is right
    view = client.get(f"/v1/jobs/{job['id']}").json()
    assert view["answer"] == "The answer is 4." and view["passed"] is True
    assert [r["answer"] for r in view["revisions"]] == ["The answer is 5."]
    assert view["revisions"][0]["checks"]["verdict"] == "fail"


def test_revise_stops_after_its_rounds_and_says_none_passed(client: TestClient, harness: Harness) -> None:
    job = submit(client, prompt="What is 2 + 2?", revise=1)
    drain(harness, ScriptedEngine(WRONG, WRONG, WRONG))
    view = client.get(f"/v1/jobs/{job['id']}").json()
    assert view["status"] == "succeeded" and view["passed"] is False
    assert len(view["revisions"]) == 1 and view["checks"]["verdict"] == "fail"


def test_samples_vote_and_report_the_winner(client: TestClient, harness: Harness) -> None:
    job = submit(client, prompt="What is 2 + 2?", samples=3)
    drain(harness, ScriptedEngine(RIGHT, WRONG, RIGHT))
    events = [json.loads(e["data"]) for e in read_sse(client, job["events_url"])]
    types = [e["type"] for e in events]
    assert types.count("sample") == 3 and types[-1] == "done"
    vote = next(e for e in events if e["type"] == "vote")
    assert vote["votes"] == {"4": 2, "5": 1} and vote["confidence"] == 0.667
    view = client.get(f"/v1/jobs/{job['id']}").json()
    assert view["answer"] == "The answer is 4." and view["vote"]["winner"] in (0, 2)
    assert len({s["job_id"] for s in view["samples"]}) == 3
    # Each sample is a job of its own, readable and streamable.
    sample = client.get(f"/v1/jobs/{view['samples'][0]['job_id']}").json()
    assert sample["status"] == "succeeded"
    assert view["usage"]["answer_tokens"] == 3  # one answer token per sample, summed


def test_answer_key_and_tally() -> None:
    assert answer_key("So there are **23 chickens** and 12 rabbits.") == answer_key("23 chickens, 12 rabbits")
    assert answer_key("Yes.") == answer_key("yes")
    samples = [
        SampleView(index=0, job_id="a", answer="5", key="5", verdict="fail"),
        SampleView(index=1, job_id="b", answer="4", key="4", verdict="pass"),
        SampleView(index=2, job_id="c", answer="", key="", verdict="error"),
    ]
    outcome = tally(samples)
    assert outcome is not None and outcome.winner == 1 and outcome.confidence == 0.5  # tie: the passing one
    assert tally([samples[2]]) is None


def test_revise_leaves_an_answer_the_question_confirms(client: TestClient, harness: Harness) -> None:
    """Its reasoning contradicts it (so it fails), but 2 + 2 is 4: revising would make it worse."""
    job = submit(client, prompt="What is 2 + 2?", revise=2)
    confused = ["2 + 2 = 5, so the result is 5.", "</think>", "The answer is 4."]
    drain(harness, ScriptedEngine(confused, WRONG))
    view = client.get(f"/v1/jobs/{job['id']}").json()
    assert view["revisions"] == [] and view["answer"] == "The answer is 4."
    assert view["checks"]["verdict"] == "fail" and view["checks"]["answer_confirmed"] is True
