"""Ask every question through a live gateway, mode by mode, and score the answers.

A mode (`modes.py`) adds fields to each request. A server that does not know a mode's field
answers 422 naming it; the mode is then reported as unavailable and the run goes on.

At most `concurrency` questions are in flight (default: the live inference workers), so the
timings measure the service, not a queue the harness built.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from httpx_sse import aconnect_sse

from services.evaluation import scoring
from services.evaluation.exceptions import AccessRefused, GatewayUnavailable
from services.evaluation.questions import Question
from services.evaluation.results import EvalRun, ModeResult, QuestionRecord, summarize
from shared.schemas import TERMINAL_EVENT_TYPES, JobStatus, JobView

JOB_TIMEOUT_S = 900.0
"""Longest the harness waits for one job (the server's default job timeout)."""
POLL_INTERVAL_S = 0.25
CONNECT_TIMEOUT_S = 10.0
CANCEL_TIMEOUT_S = 5.0


@dataclass
class Listener:
    """Progress callbacks; the CLI draws its progress bar with them."""

    on_record: Callable[[str, QuestionRecord], None] = lambda mode, record: None
    on_mode_done: Callable[[ModeResult], None] = lambda result: None


class _FieldRejected(Exception):
    """The server refused a mode's field: it does not offer that mode."""


async def live_workers(client: httpx.AsyncClient) -> int:
    """How many inference workers the gateway sees alive; raises when it is not ready."""
    try:
        response = await client.get("/readyz")
    except httpx.HTTPError as exc:
        raise GatewayUnavailable(f"cannot reach the gateway at {client.base_url}: {exc}") from None
    body = response.json()
    if response.status_code != 200:
        reason = body.get("reason") or body.get("redis") or response.status_code
        raise GatewayUnavailable(f"the gateway at {client.base_url} is not ready: {reason}")
    access = await client.get("/v1/models")  # the probe is open; this route needs the key
    if access.status_code in (401, 403):
        raise AccessRefused(f"the gateway refused the request: {access.status_code}: {_message(access)}")
    return int(body["workers"])


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.text[:200]


def _rejects_field(response: httpx.Response, fields: dict[str, Any]) -> bool:
    if response.status_code != 422 or not fields:
        return False
    try:
        details = response.json()["error"]["details"]
    except (ValueError, KeyError, TypeError):
        return False
    return any(name in detail.get("loc", []) for detail in details for name in fields)


class _Runner:
    def __init__(self, client: httpx.AsyncClient, request: dict[str, Any], concurrency: int, listener: Listener):
        self._client = client
        self._request = request
        self._slots = asyncio.Semaphore(concurrency)
        self._listener = listener

    async def run_mode(self, name: str, fields: dict[str, Any], questions: list[Question]) -> ModeResult:
        result = ModeResult(name=name, fields=fields)
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self._ask(name, q, fields)) for q in questions]
        except* _FieldRejected as rejected:
            result.available = False
            result.unavailable_reason = str(rejected.exceptions[0])
        else:
            result.records = [task.result() for task in tasks]
            result.summary = summarize(result.records)
        self._listener.on_mode_done(result)
        return result

    async def _ask(self, mode: str, question: Question, fields: dict[str, Any]) -> QuestionRecord:
        async with self._slots:
            record = await self._job(question, fields)
        self._listener.on_record(mode, record)
        return record

    async def _job(self, question: Question, fields: dict[str, Any]) -> QuestionRecord:
        def error(message: str, job_id: str | None = None) -> QuestionRecord:
            return QuestionRecord(
                id=question.id,
                lang=question.lang,
                rung=question.rung,
                gold=question.gold,
                job_id=job_id,
                status="error",
                error=message,
            )

        body = {"prompt": question.question, **self._request, **fields}
        try:
            response = await self._client.post("/v1/jobs", json=body)
        except httpx.HTTPError as exc:
            return error(f"submitting failed: {exc!r}")
        if _rejects_field(response, fields):
            raise _FieldRejected(_message(response))
        if response.status_code != 202:
            return error(f"{response.status_code}: {_message(response)}")
        accepted = response.json()
        job_id = accepted["id"]
        try:
            async with asyncio.timeout(JOB_TIMEOUT_S):
                view = await self._wait(job_id, accepted["events_url"])
        except TimeoutError:
            await self._cancel(job_id)
            return error(f"no result after {JOB_TIMEOUT_S:.0f} s", job_id)
        except asyncio.CancelledError:
            await self._cancel(job_id)  # interrupted: do not leave the job running on the server
            raise
        except httpx.HTTPError as exc:
            return error(f"reading the job failed: {exc!r}", job_id)
        return _record(question, view)

    async def _wait(self, job_id: str, events_url: str) -> JobView:
        """Follow the job's events until it ends, then read the folded job."""
        try:
            async with aconnect_sse(self._client, "GET", events_url) as source:
                async for sse in source.aiter_sse():
                    if sse.event in TERMINAL_EVENT_TYPES:
                        break
        except httpx.HTTPError:
            pass  # a dropped stream is not a failed job: polling below still gets the result
        while True:
            response = await self._client.get(f"/v1/jobs/{job_id}")
            response.raise_for_status()
            view = JobView.model_validate_json(response.content)
            if view.status.is_final:
                return view
            await asyncio.sleep(POLL_INTERVAL_S)

    async def _cancel(self, job_id: str) -> None:
        with contextlib.suppress(httpx.HTTPError, asyncio.CancelledError):
            await asyncio.shield(self._client.delete(f"/v1/jobs/{job_id}", timeout=CANCEL_TIMEOUT_S))


def _record(question: Question, view: JobView) -> QuestionRecord:
    succeeded = view.status == JobStatus.SUCCEEDED
    score = scoring.score(question, view.answer) if succeeded else scoring.Score(False, ())
    return QuestionRecord(
        id=question.id,
        lang=question.lang,
        rung=question.rung,
        job_id=view.id,
        status=view.status.value,  # type: ignore[arg-type]  # final statuses only
        correct=score.correct,
        extracted=list(score.extracted),
        gold=question.gold,
        verdict=view.checks.verdict if view.checks else None,
        finish_reason=view.finish_reason,
        queued_ms=view.timings.queued_ms,
        ttft_ms=view.timings.ttft_ms,
        total_ms=view.timings.total_ms,
        tokens_per_s=view.timings.tokens_per_s,
        reasoning_tokens=view.usage.reasoning_tokens,
        answer_tokens=view.usage.answer_tokens,
        answer=view.answer,
        error=view.error,
    )


async def evaluate(
    url: str,
    questions: list[Question],
    modes: dict[str, dict[str, Any]],
    request: dict[str, Any],
    *,
    questions_file: str = "",
    concurrency: int | None = None,
    listener: Listener | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    headers: dict[str, str] | None = None,
) -> EvalRun:
    """Ask every question in every mode; `request` holds the generation fields sent with each,
    `headers` (the API key) go with every request. `transport` replaces the network (tests)."""
    started, clock = datetime.now(UTC), time.monotonic()
    timeout = httpx.Timeout(CONNECT_TIMEOUT_S, read=None)  # a stream may be quiet while its job is queued
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=timeout, transport=transport) as client:
        workers = await live_workers(client)
        slots = concurrency or workers
        runner = _Runner(client, request, slots, listener or Listener())
        results = [await runner.run_mode(name, fields, questions) for name, fields in modes.items()]
    return EvalRun(
        url=url,
        questions_file=questions_file,
        started_at=started.isoformat(timespec="seconds"),
        duration_s=round(time.monotonic() - clock, 1),
        concurrency=slots,
        request=request,
        modes=results,
    )
