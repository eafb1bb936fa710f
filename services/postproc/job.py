"""The post-processing job: check a finished generation, then close the job's stream."""

from __future__ import annotations

import logging

from redis import Redis
from rq import get_current_job

from services.postproc.checks import Trace, run_checks
from services.postproc.exceptions import JobStateMissing
from services.postproc.revision import start_revision
from services.postproc.vote import answer_key, tally
from shared import keys, stats
from shared.eventlog import EventWriter, fold, stamp
from shared.sampling import report_sample
from shared.schemas import (
    AnswerEvent,
    CheckEvent,
    CheckReport,
    DoneEvent,
    ErrorEvent,
    Event,
    InferenceResult,
    JobSpec,
    JobStatus,
    ReasoningEvent,
    StartedEvent,
    VoteEvent,
    parse_event,
)

log = logging.getLogger(__name__)


def run_checks_job(job_id: str, ttl_s: int, job_timeout_s: int = 900) -> str:
    """RQ entry point: check job `job_id`, then publish `check` and `done`, or start a revision
    when the answer failed and the job allows one; returns the verdict."""
    rq_job = get_current_job()
    assert rq_job is not None, "run_checks_job runs inside an RQ worker"
    return check_job(rq_job.connection, job_id, ttl_s, job_timeout_s)


def run_vote_job(job_id: str, ttl_s: int) -> str:
    """RQ entry point: every sample of self-consistency job `job_id` has reported; vote."""
    rq_job = get_current_job()
    assert rq_job is not None, "run_vote_job runs inside an RQ worker"
    return conclude_samples(rq_job.connection, job_id, ttl_s)


def check_job(redis: Redis, job_id: str, ttl_s: int, job_timeout_s: int = 900) -> str:
    events = EventWriter(redis, job_id, ttl_s)
    try:
        spec_raw, result_raw = redis.hmget(keys.job_key(job_id), ["spec", "result"])
        if spec_raw is None or result_raw is None:
            raise JobStateMissing(f"job {job_id} has no request or result in Redis")
        spec = JobSpec.model_validate_json(spec_raw)
        result = InferenceResult.model_validate_json(result_raw)
        history = [parse_event(raw) for raw in redis.lrange(keys.job_events_key(job_id), 0, -1)]
        view = fold(job_id, JobStatus.CHECKING, spec.created_at, history)
        original = redis.hget(keys.job_key(job_id), "original")
        asked = JobSpec.model_validate_json(original) if original is not None else spec
        trace = Trace(
            question=asked.messages[-1].content,
            reasoning=view.reasoning,
            answer=view.answer,
            finish_reason=result.finish_reason,
            reasoning_end=result.reasoning_end,
        )
        report = run_checks(trace)
    except Exception as exc:
        log.exception("checking job %s failed", job_id)
        redis.hset(keys.job_key(job_id), "status", JobStatus.FAILED.value)
        events.emit(stamp(ErrorEvent, message=f"checking the answer failed: {exc}", code="check_failed"))
        raise
    events.emit(stamp(CheckEvent, report=report))
    if report.verdict == "fail" and spec.round < spec.revise:
        start_revision(redis, spec, view.answer, view.reasoning, report, ttl_s=ttl_s, job_timeout_s=job_timeout_s)
        return report.verdict
    _record(redis, job_id, history, result, report, ttl_s)
    redis.hset(keys.job_key(job_id), "status", JobStatus.SUCCEEDED.value)
    passed = report.verdict != "fail" if spec.revise else None
    events.emit(stamp(DoneEvent, result=result, rounds=spec.round + 1, passed=passed))
    report_sample(redis, spec, answer=view.answer, key=answer_key(view.answer), verdict=report.verdict, ttl_s=ttl_s)
    return report.verdict


def conclude_samples(redis: Redis, job_id: str, ttl_s: int) -> str:
    """Publish the winning sample's reasoning and answer as the job's own, the vote, the
    winner's checks and `done` with the usage of all samples."""
    events = EventWriter(redis, job_id, ttl_s)
    history = [parse_event(raw) for raw in redis.lrange(keys.job_events_key(job_id), 0, -1)]
    samples = fold(job_id, JobStatus.CHECKING, 0.0, history).samples
    outcome = tally(samples)
    if outcome is None:
        redis.hset(keys.job_key(job_id), "status", JobStatus.FAILED.value)
        events.emit(stamp(ErrorEvent, message="no sample produced an answer", code="no_answer"))
        return "error"
    winner = next(s for s in samples if s.index == outcome.winner)
    child_events = [parse_event(raw) for raw in redis.lrange(keys.job_events_key(winner.job_id), 0, -1)]
    child = fold(winner.job_id, JobStatus.SUCCEEDED, 0.0, child_events)
    results = [redis.hget(keys.job_key(s.job_id), "result") for s in samples if s.verdict != "error"]
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
    events.emit(stamp(ReasoningEvent, text=child.reasoning, tokens=done.result.usage.reasoning_tokens))
    events.emit(stamp(AnswerEvent, text=child.answer, tokens=done.result.usage.answer_tokens))
    events.emit(stamp(VoteEvent, winner=outcome.winner, votes=outcome.votes, confidence=outcome.confidence))
    if child.checks is not None:
        events.emit(stamp(CheckEvent, report=child.checks))
    redis.hset(keys.job_key(job_id), "status", JobStatus.SUCCEEDED.value)
    result = done.result.model_copy(update={"usage": total})
    events.emit(stamp(DoneEvent, result=result, rounds=done.rounds, passed=done.passed))
    return winner.key


def _record(
    redis: Redis, job_id: str, history: list[Event], result: InferenceResult, report: CheckReport, ttl_s: int
) -> None:
    """Count the job for `/metrics` before `done` goes out, so a client that saw `done` finds it
    counted. Figures are not worth failing a good answer for: a failure here is only logged."""
    worker_id = next((e.worker for e in reversed(history) if isinstance(e, StartedEvent)), "unknown")
    try:
        stats.record_job(redis, worker_id=worker_id, result=result, report=report, ttl_s=ttl_s)
    except Exception:
        log.exception("recording the figures of job %s failed", job_id)
