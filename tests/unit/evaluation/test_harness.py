from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest

from services.evaluation.exceptions import AccessRefused, GatewayUnavailable
from services.evaluation.harness import Listener, evaluate
from services.evaluation.modes import build_modes
from services.evaluation.questions import Question
from services.evaluation.results import EvalRun
from shared.schemas import CheckReport, JobStatus, JobView, Timings, Usage

KNOWN_FIELDS = {"prompt", "max_tokens", "max_reasoning_tokens", "temperature", "seed"}
QUESTIONS = [
    Question(id="sheep", lang="en", question="3 pens with 4 sheep each. How many sheep?", gold=["12"]),
    Question(id="eggs", lang="zh", question="3盒鸡蛋，每盒12个，吃掉了7个，还剩多少个？", gold=["29"]),
]
ANSWERS = {QUESTIONS[0].question: "There are 12 sheep.", QUESTIONS[1].question: "还剩30个。"}


class FakeGateway:
    """Answers as the gateway does: 422 naming any field it does not know, 202 then a finished
    job with the scripted answer for each prompt, `status` for prompts in `refuse`."""

    def __init__(
        self,
        *,
        accepts: frozenset[str] = frozenset(),
        workers: int = 2,
        refuse: dict[str, int] | None = None,
        key: str | None = None,
    ):
        self.accepts = KNOWN_FIELDS | accepts
        self.key = key
        self.workers = workers
        self.refuse = refuse or {}
        self.bodies: list[dict[str, Any]] = []
        self.prompts: dict[str, str] = {}

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/readyz":
            if not self.workers:
                return httpx.Response(503, json={"status": "unavailable", "reason": "no live inference worker"})
            return httpx.Response(200, json={"status": "ok", "workers": self.workers})
        if self.key is not None and request.headers.get("authorization") != f"Bearer {self.key}":
            return httpx.Response(401, json={"error": {"message": "this gateway needs an API key"}})
        if path == "/v1/models":
            return httpx.Response(200, json={"object": "list", "data": []})
        if request.method == "POST":
            return self.submit(json.loads(request.content))
        if path.endswith("/events"):
            stream = 'id: 1\nevent: done\ndata: {"type": "done"}\n\n'
            return httpx.Response(200, headers={"content-type": "text/event-stream"}, text=stream)
        job_id = path.rsplit("/", 1)[-1]
        view = JobView(
            id=job_id,
            status=JobStatus.SUCCEEDED,
            answer=ANSWERS[self.prompts[job_id]],
            finish_reason="stop",
            usage=Usage(reasoning_tokens=30, answer_tokens=6),
            timings=Timings(ttft_ms=120.0, total_ms=900.0, tokens_per_s=45.0),
            checks=CheckReport(verdict="unsure"),
            created_at=0.0,
        )
        return httpx.Response(200, content=view.model_dump_json())

    def submit(self, body: dict[str, Any]) -> httpx.Response:
        self.bodies.append(body)
        if unknown := [key for key in body if key not in self.accepts]:
            details = [{"loc": ["body", key], "msg": "Extra inputs are not permitted"} for key in unknown]
            error = {"message": f"{unknown[0]}: Extra inputs are not permitted", "details": details}
            return httpx.Response(422, json={"error": error})
        if body["prompt"] in self.refuse:
            return httpx.Response(self.refuse[body["prompt"]], json={"error": {"message": "the prompt is too long"}})
        job_id = uuid.uuid4().hex
        self.prompts[job_id] = body["prompt"]
        return httpx.Response(202, json={"id": job_id, "events_url": f"/v1/jobs/{job_id}/events"})


def run(
    gateway: FakeGateway, modes: list[str], listener: Listener | None = None, headers: dict[str, str] | None = None
) -> EvalRun:
    return asyncio.run(
        evaluate(
            "http://gateway",
            QUESTIONS,
            build_modes(modes, samples=5, revise=2),
            {"max_tokens": 64},
            listener=listener,
            transport=gateway.transport(),
            headers=headers,
        )
    )


def test_evaluate_sends_the_key_and_stops_at_once_when_it_is_refused() -> None:
    gateway = FakeGateway(key="ts-right")
    with pytest.raises(AccessRefused, match="401: this gateway needs an API key"):
        run(gateway, ["plain"], headers={"Authorization": "Bearer ts-wrong"})
    assert gateway.bodies == []  # no question was sent
    result = run(gateway, ["plain"], headers={"Authorization": "Bearer ts-right"})
    assert result.modes[0].summary is not None and len(gateway.bodies) == 2


def test_evaluate_scores_and_times_every_question() -> None:
    gateway = FakeGateway()
    result = run(gateway, ["plain"])
    (plain,) = result.modes
    assert [(r.id, r.correct, r.extracted) for r in plain.records] == [("sheep", True, ["12"]), ("eggs", False, ["30"])]
    first = plain.records[0]
    assert (first.verdict, first.ttft_ms, first.total_ms, first.tokens_per_s) == ("unsure", 120.0, 900.0, 45.0)
    assert plain.summary is not None and plain.summary.accuracy == 0.5
    assert all(body["max_tokens"] == 64 for body in gateway.bodies)
    assert result.concurrency == 2  # the live workers


def test_evaluate_reports_a_mode_the_server_rejects_as_unavailable_and_goes_on() -> None:
    gateway = FakeGateway(accepts=frozenset({"revise"}))
    done: list[str] = []
    result = run(gateway, ["samples", "revise"], Listener(on_mode_done=lambda mode: done.append(mode.name)))
    samples, revise = result.modes
    assert not samples.available and samples.summary is None
    assert samples.unavailable_reason == "samples: Extra inputs are not permitted"
    assert revise.available and len(revise.records) == 2
    assert [body["revise"] for body in gateway.bodies if "revise" in body] == [2, 2]
    assert done == ["samples", "revise"]


def test_evaluate_records_a_refused_question_and_goes_on() -> None:
    gateway = FakeGateway(refuse={QUESTIONS[0].question: 413})
    (plain,) = run(gateway, ["plain"]).modes
    refused, answered = plain.records
    assert (refused.status, refused.error) == ("error", "413: the prompt is too long")
    assert answered.status == "succeeded"
    assert plain.summary is not None and plain.summary.errors == 1


def test_evaluate_without_a_live_worker_says_so() -> None:
    with pytest.raises(GatewayUnavailable, match="no live inference worker"):
        run(FakeGateway(workers=0), ["plain"])
