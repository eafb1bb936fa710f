"""Reporting one self-consistency sample to the job that votes over them.

Whoever finishes a sample (the post-processing worker with its verdict, or the inference worker
when generation failed) calls `report_sample`; the report that completes the set queues the vote
on the post-processing queue.
"""

from __future__ import annotations

from typing import Literal

from redis import Redis
from rq import Queue

from shared import keys
from shared.eventlog import EventWriter, stamp
from shared.schemas import JobSpec, SampleEvent, Verdict
from shared.tasks import VOTE_FUNC


def report_sample(
    redis: Redis,
    spec: JobSpec,
    *,
    answer: str,
    key: str,
    verdict: Verdict | Literal["error"],
    ttl_s: int,
) -> None:
    parent = spec.parent
    if parent is None or spec.sample_index is None:
        return
    event = stamp(
        SampleEvent,
        index=spec.sample_index,
        job_id=spec.job_id,
        answer=answer,
        key=key,
        verdict=verdict,
        rounds=spec.round + 1,
    )
    EventWriter(redis, parent, ttl_s).emit(event)
    reported = redis.hincrby(keys.job_key(parent), "samples_reported", 1)
    raw = redis.hget(keys.job_key(parent), "spec")
    if raw is not None and reported == JobSpec.model_validate_json(raw).samples:
        Queue(keys.POSTPROC_QUEUE, connection=redis).enqueue(
            VOTE_FUNC, parent, ttl_s, job_id=f"{parent}-vote", result_ttl=0, failure_ttl=ttl_s
        )
