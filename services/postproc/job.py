"""The post-processing jobs: check a finished generation, then end the job (or revise it); vote
over the samples of a self-consistency job."""

from __future__ import annotations

import logging

from services.postproc.checks import Trace, run_checks
from services.postproc.context import current_context
from services.postproc.exceptions import JobStateMissing
from services.postproc.revision import start_revision
from services.postproc.vote import answer_key, tally
from services.store.jobs import JobStore
from services.store.records import SampleOutcome
from shared import keys, stats
from shared.eventlog import fold, stamp
from shared.schemas import (
    AnswerEvent,
    CheckEvent,
    CheckReport,
    DoneEvent,
    InferenceResult,
    JobStatus,
    ReasoningEvent,
    VoteEvent,
    parse_event,
)

log = logging.getLogger(__name__)


def run_checks_job(job_id: str, run: int = 1) -> str:
    """RQ entry point: check run `run` of job `job_id`, then publish `check` and `done`, or start
    a revision when the answer failed and the job allows one; returns the verdict."""
    ctx = current_context()
    return check_job(ctx.store, job_id, run)


def run_vote_job(job_id: str) -> str:
    """RQ entry point: every sample of self-consistency job `job_id` has reported; vote."""
    return conclude_samples(current_context().store, job_id)


def check_job(store: JobStore, job_id: str, run: int = 1) -> str:
    record = store.read(job_id)
    if record.ended or record.run != run:
        log.info("job %s run %d is no longer current; not checked", job_id, run)
        return "stale"
    try:
        if record.result is None:
            raise JobStateMissing(f"job {job_id} has no inference result in Redis")
        result = record.result
        view = store.view(job_id, JobStatus.CHECKING)
        trace = Trace(
            question=record.original.messages[-1].content,
            reasoning=view.reasoning,
            answer=view.answer,
            finish_reason=result.finish_reason,
            reasoning_end=result.reasoning_end,
        )
        report = run_checks(trace)
    except Exception as exc:
        log.exception("checking job %s failed", job_id)
        # A sample fails like any job: `end` reports it to its parent, which votes without it.
        store.fail(job_id, "check_failed", f"checking the answer failed: {exc}", run=run)
        raise
    writer = store.writer(job_id, run, record.origin)
    writer.emit(stamp(CheckEvent, report=report))
    spec = record.spec
    # An answer the question itself confirms is not revised, even when its reasoning contradicts
    # it: measured on the eval ladder, such revisions adopted the reasoning's wrong value.
    if report.verdict == "fail" and spec.round < spec.revise and not report.answer_confirmed:
        start_revision(store, record, run, view.answer, view.reasoning, report)
        return report.verdict
    _record(store, job_id, result, report)
    passed = report.verdict != "fail" if spec.revise else None
    sample = SampleOutcome(answer=view.answer, key=answer_key(view.answer), verdict=report.verdict)
    done = stamp(DoneEvent, result=result, rounds=spec.round + 1, passed=passed)
    store.end(job_id, done, JobStatus.SUCCEEDED, run=run, sample=sample)
    return report.verdict


def conclude_samples(store: JobStore, job_id: str) -> str:
    """Publish the winning sample's reasoning and answer as the job's own, the vote, the
    winner's checks and `done` with the usage of all samples."""
    record = store.read(job_id)
    if record.ended:
        return "ended"
    records = store.events
    writer = store.writer(job_id, 0, record.origin)
    samples = store.view(job_id).samples
    outcome = tally(samples)
    if outcome is None:
        store.fail(job_id, "no_answer", "no sample produced an answer")
        return "error"
    winner = next(s for s in samples if s.index == outcome.winner)
    child_events = [parse_event(raw) for raw in records.lrange(keys.job_events_key(winner.job_id), 0, -1)]
    child = fold(winner.job_id, JobStatus.SUCCEEDED, 0.0, child_events)
    results = [records.hget(keys.job_key(s.job_id), "result") for s in samples if s.verdict != "error"]
    usage = [InferenceResult.model_validate_json(raw).usage for raw in results if raw is not None]
    done = next(e for e in reversed(child_events) if isinstance(e, DoneEvent))
    total = done.result.usage.model_copy(
        update={
            "prompt_tokens": sum(u.prompt_tokens for u in usage),
            "cached_tokens": sum(u.cached_tokens for u in usage),
            "reasoning_tokens": sum(u.reasoning_tokens for u in usage),
            "answer_tokens": sum(u.answer_tokens for u in usage),
        }
    )
    writer.emit(stamp(ReasoningEvent, text=child.reasoning, tokens=done.result.usage.reasoning_tokens))
    writer.emit(stamp(AnswerEvent, text=child.answer, tokens=done.result.usage.answer_tokens))
    writer.emit(stamp(VoteEvent, winner=outcome.winner, votes=outcome.votes, confidence=outcome.confidence))
    if child.checks is not None:
        writer.emit(stamp(CheckEvent, report=child.checks))
    result = done.result.model_copy(update={"usage": total})
    store.end(job_id, stamp(DoneEvent, result=result, rounds=done.rounds, passed=done.passed), JobStatus.SUCCEEDED)
    return winner.key


def _record(store: JobStore, job_id: str, result: InferenceResult, report: CheckReport) -> None:
    """Count the job for `/metrics` before `done` goes out, so a client that saw `done` finds it
    counted. Figures are not worth failing a good answer for: a failure here is only logged."""
    try:
        worker = store.events.hget(keys.job_key(job_id), "worker")
        worker_id = worker.decode() if worker else "unknown"
        budget = store.read(job_id).spec.max_tokens  # the queue's estimates learn what share of it jobs use
        stats.record_job(
            store.redis,
            worker_id=worker_id,
            result=result,
            report=report,
            ttl_s=store.settings.job_ttl_s,
            budget_tokens=budget,
        )
    except Exception:
        log.exception("recording the figures of job %s failed", job_id)
