"""The inference job: generate one answer and stream it as events."""

from __future__ import annotations

import logging
import time

from services.inference.batch import DeltaBatch
from services.inference.context import InferenceContext, current_context
from services.inference.engine import Sampling
from services.inference.exceptions import JobSpecMissing
from services.inference.generation import Generation, Outcome
from services.inference.splitter import Delta
from shared import keys
from shared.eventlog import EventWriter, stamp
from shared.schemas import (
    AnswerEvent,
    CanceledEvent,
    ErrorEvent,
    InferenceResult,
    JobSpec,
    JobStatus,
    ReasoningEvent,
    StartedEvent,
    Timings,
    Usage,
)

log = logging.getLogger(__name__)

POSTPROC_FUNC = "services.postproc.job.run_checks_job"


def run_inference(job_id: str) -> str:
    """RQ entry point: generate the answer for job `job_id`; returns its finish reason."""
    return InferenceJob(current_context(), job_id).run()


class InferenceJob:
    def __init__(self, ctx: InferenceContext, job_id: str) -> None:
        self._ctx = ctx
        self._job_id = job_id
        self._events = EventWriter(ctx.redis, job_id, ctx.settings.job_ttl_s)
        self._batch = DeltaBatch()
        self._last_flush = 0.0

    def run(self) -> str:
        redis, job_key = self._ctx.redis, keys.job_key(self._job_id)
        raw = redis.hget(job_key, "spec")
        if raw is None:
            raise JobSpecMissing(f"job {self._job_id} has no request in Redis")
        spec = JobSpec.model_validate_json(raw)
        if redis.exists(keys.job_cancel_key(self._job_id)):
            self._finish_canceled()
            return "canceled"
        started_at = time.time()
        redis.hset(job_key, mapping={"status": JobStatus.RUNNING.value, "started_at": started_at})
        self._events.emit(stamp(StartedEvent, worker=self._ctx.worker_id))
        if self._events.closed or self._events.canceled:  # cancelled while being picked up
            self._finish_canceled()
            return "canceled"
        try:
            prompt = self._ctx.engine.prompt_tokens(spec.messages)
            outcome = self._generate(spec, prompt)
        except Exception as exc:
            log.exception("job %s failed", self._job_id)
            redis.hset(job_key, "status", JobStatus.FAILED.value)
            self._events.emit(stamp(ErrorEvent, message=f"generation failed: {exc}", code="generation_failed"))
            raise
        if outcome.finish_reason == "canceled":
            self._finish_canceled()
            return "canceled"
        result = _result(spec, len(prompt), started_at, outcome)
        with redis.pipeline() as pipe:
            pipe.hset(job_key, mapping={"status": JobStatus.CHECKING.value, "result": result.model_dump_json()})
            pipe.execute()
        self._ctx.postproc_queue.enqueue(
            POSTPROC_FUNC,
            self._job_id,
            self._ctx.settings.job_ttl_s,
            job_id=f"{self._job_id}-check",
            result_ttl=0,
            failure_ttl=self._ctx.settings.job_ttl_s,
        )
        return result.finish_reason

    def _generate(self, spec: JobSpec, prompt: list[int]) -> Outcome:
        sampling = Sampling(spec.params.temperature, spec.params.top_p, spec.params.seed)
        generation = Generation(
            self._ctx.engine,
            prompt,
            max_tokens=spec.max_tokens,
            max_reasoning_tokens=spec.max_reasoning_tokens,
            n_ctx=self._ctx.model.n_ctx,
            sampling=sampling,
        )
        outcome = generation.run(self._publish)
        self._flush()
        return outcome

    def _publish(self, deltas: list[Delta], counts: Outcome) -> bool:
        self._batch.add(deltas, counts)
        if time.monotonic() - self._last_flush >= self._ctx.settings.stream_flush_ms / 1000:
            self._flush()
        return not (self._events.canceled or self._events.closed)

    def _flush(self) -> None:
        for kind, text, tokens in self._batch.drain():
            event_cls = ReasoningEvent if kind == "reasoning" else AnswerEvent
            self._events.emit(stamp(event_cls, text=text, tokens=tokens))
            self._last_flush = time.monotonic()

    def _finish_canceled(self) -> None:
        self._ctx.redis.hset(keys.job_key(self._job_id), "status", JobStatus.CANCELED.value)
        self._events.emit(stamp(CanceledEvent))


def _result(spec: JobSpec, prompt_tokens: int, started_at: float, out: Outcome) -> InferenceResult:
    first = out.first_token_at or started_at
    last = out.last_token_at or first
    decode_s = last - first
    return InferenceResult(
        finish_reason=out.finish_reason,
        reasoning_end=out.reasoning_end,
        usage=Usage(
            prompt_tokens=prompt_tokens,
            reasoning_tokens=out.reasoning_tokens,
            answer_tokens=out.answer_tokens,
        ),
        timings=Timings(
            queued_ms=_ms(started_at - spec.created_at),
            prompt_ms=_ms(first - started_at),
            ttft_ms=_ms(first - spec.created_at),
            reasoning_ms=_ms((out.reasoning_end_at or last) - first) if out.reasoning_tokens else 0.0,
            total_ms=_ms(last - spec.created_at),
            tokens_per_s=round((out.generated_tokens - 1) / decode_s, 2) if decode_s > 0 else 0.0,
        ),
    )


def _ms(seconds: float) -> float:
    return round(max(seconds, 0.0) * 1000, 1)
