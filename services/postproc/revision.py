"""Automatic correction: a failed answer goes back to the model with its reasoning and the
findings, as a new round of the same job (the stream shows it), up to the job's `revise`."""

from __future__ import annotations

from redis import Redis
from rq import Queue

from services.postproc.feedback import feedback
from shared import keys
from shared.eventlog import EventWriter, stamp
from shared.schemas import ChatMessage, CheckReport, JobSpec, JobStatus, RevisionEvent
from shared.tasks import INFERENCE_FUNC


def revision_spec(original: JobSpec, answer: str, reasoning: str, report: CheckReport, round_: int) -> JobSpec:
    """The original conversation, the failed answer, and a user turn with the findings."""
    messages = [
        *original.messages,
        ChatMessage(role="assistant", content=answer or "(no answer)"),
        ChatMessage(role="user", content=feedback(original.messages[-1].content, answer, reasoning, report)),
    ]
    return original.model_copy(update={"messages": messages, "round": round_, "conversation": None})


def start_revision(
    redis: Redis, current: JobSpec, answer: str, reasoning: str, report: CheckReport, *, ttl_s: int, job_timeout_s: int
) -> int:
    """Queue the next round of job `current.job_id` at the front of the shared queue; returns
    its number. The original request is kept in the job hash as `original`."""
    job_key = keys.job_key(current.job_id)
    raw = redis.hget(job_key, "original")
    original = JobSpec.model_validate_json(raw) if raw is not None else current
    round_ = current.round + 1
    spec = revision_spec(original, answer, reasoning, report, round_)
    redis.hset(
        job_key,
        mapping={
            "spec": spec.model_dump_json(),
            "original": original.model_dump_json(),
            "status": JobStatus.QUEUED.value,
        },
    )
    errors = [f for f in report.findings if f.severity == "error"]
    EventWriter(redis, current.job_id, ttl_s).emit(stamp(RevisionEvent, round=round_, findings=errors))
    Queue(keys.INFERENCE_QUEUE, connection=redis).enqueue(
        INFERENCE_FUNC,
        current.job_id,
        job_id=f"{current.job_id}-r{round_}",
        at_front=True,
        job_timeout=job_timeout_s,
        result_ttl=ttl_s,
        failure_ttl=ttl_s,
    )
    return round_
