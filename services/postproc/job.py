"""The post-processing job: check a finished generation, then close the job's stream."""

from __future__ import annotations

import logging

from redis import Redis
from rq import get_current_job

from services.postproc.checks import Trace, run_checks
from services.postproc.exceptions import JobStateMissing
from shared import keys
from shared.eventlog import EventWriter, fold, stamp
from shared.schemas import CheckEvent, DoneEvent, ErrorEvent, InferenceResult, JobSpec, JobStatus, parse_event

log = logging.getLogger(__name__)


def run_checks_job(job_id: str, ttl_s: int) -> str:
    """RQ entry point: check job `job_id`, publish `check` then `done`; returns the verdict."""
    rq_job = get_current_job()
    assert rq_job is not None, "run_checks_job runs inside an RQ worker"
    return check_job(rq_job.connection, job_id, ttl_s)


def check_job(redis: Redis, job_id: str, ttl_s: int) -> str:
    events = EventWriter(redis, job_id, ttl_s)
    try:
        spec_raw, result_raw = redis.hmget(keys.job_key(job_id), ["spec", "result"])
        if spec_raw is None or result_raw is None:
            raise JobStateMissing(f"job {job_id} has no request or result in Redis")
        spec = JobSpec.model_validate_json(spec_raw)
        result = InferenceResult.model_validate_json(result_raw)
        history = [parse_event(raw) for raw in redis.lrange(keys.job_events_key(job_id), 0, -1)]
        view = fold(job_id, JobStatus.CHECKING, spec.created_at, history)
        trace = Trace(
            question=spec.messages[-1].content,
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
    redis.hset(keys.job_key(job_id), "status", JobStatus.SUCCEEDED.value)
    events.emit(stamp(DoneEvent, result=result))
    return report.verdict
