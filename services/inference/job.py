"""The inference job: generate one answer and stream it as events."""

from __future__ import annotations

import logging
import time

from rq import get_current_job

from services.inference.batch import DeltaBatch
from services.inference.context import InferenceContext, current_context
from services.inference.engine import Sampling
from services.inference.exceptions import JobSpecMissing
from services.inference.generation import Generation, Outcome
from services.inference.splitter import Delta
from shared import keys
from shared.conversation import conversation_key
from shared.eventlog import EventWriter, stamp
from shared.sampling import report_sample
from shared.schemas import (
    AnswerEvent,
    CanceledEvent,
    ChatMessage,
    ErrorEvent,
    InferenceResult,
    JobSpec,
    JobStatus,
    ReasoningEvent,
    StartedEvent,
    Timings,
    Usage,
)
from shared.tasks import POSTPROC_FUNC

log = logging.getLogger(__name__)


def run_inference(job_id: str) -> str:
    """RQ entry point: generate the answer for job `job_id`; returns its finish reason."""
    rq_job = get_current_job()
    # A batch item is meant to wait behind its batch: the queue-wait limit is for people.
    batch = rq_job is not None and rq_job.origin == keys.BATCH_QUEUE
    return InferenceJob(current_context(), job_id, limit_wait=not batch).run()


class InferenceJob:
    def __init__(self, ctx: InferenceContext, job_id: str, *, limit_wait: bool = True) -> None:
        self._ctx = ctx
        self._job_id = job_id
        self._limit_wait = limit_wait
        self._events = EventWriter(ctx.redis, job_id, ctx.settings.job_ttl_s)
        self._batch = DeltaBatch()
        self._last_flush = 0.0
        self._answer: list[str] = []
        self._deadline = float("inf")
        self._timed_out = False
        self._spec: JobSpec | None = None

    def run(self) -> str:
        redis, job_key, settings = self._ctx.redis, keys.job_key(self._job_id), self._ctx.settings
        raw, attempt = redis.hmget(job_key, ["spec", "attempt"])
        if raw is None:
            raise JobSpecMissing(f"job {self._job_id} has no request in Redis")
        spec = self._spec = JobSpec.model_validate_json(raw)
        # Writes are fenced by attempt: if this worker is taken for dead and the job handed to
        # another, the log refuses what this one still sends.
        self._events = EventWriter(redis, self._job_id, settings.job_ttl_s, attempt=int(attempt or 1))
        if redis.exists(keys.job_cancel_key(self._job_id)):
            self._finish_canceled()
            return "canceled"
        waited = time.time() - spec.created_at
        if self._limit_wait and waited > settings.max_queue_wait_s:
            return self._fail(
                "queue_timeout",
                f"the job waited {waited:.0f} s for a worker, longer than the limit of "
                f"{settings.max_queue_wait_s:.0f} s (THINKSTREAM_MAX_QUEUE_WAIT_S); submit it again later",
            )
        redis.hset(keys.RUNNING_JOBS, self._job_id, self._ctx.worker_id)
        try:
            return self._run(spec)
        finally:
            if redis.hget(keys.RUNNING_JOBS, self._job_id) == self._ctx.worker_id.encode():
                redis.hdel(keys.RUNNING_JOBS, self._job_id)

    def _run(self, spec: JobSpec) -> str:
        redis, job_key, settings = self._ctx.redis, keys.job_key(self._job_id), self._ctx.settings
        started_at = time.time()
        self._events.emit(stamp(StartedEvent, worker=self._ctx.worker_id, attempt=self._events.attempt))
        if self._events.superseded:
            return "superseded"
        if self._events.closed or self._events.canceled:  # cancelled while being picked up
            self._finish_canceled()
            return "canceled"
        redis.hset(job_key, mapping={"status": JobStatus.RUNNING.value, "started_at": started_at})
        self._deadline = time.monotonic() + settings.max_generation_s
        engine = self._ctx.engine
        try:
            prompt = engine.prompt_tokens(spec.messages)
            cached = engine.prepare(prompt)
            outcome = self._generate(spec, prompt)
            engine.remember()
        except Exception as exc:
            log.exception("job %s failed", self._job_id)
            self._fail("generation_failed", f"generation failed: {exc}")
            raise
        if self._events.superseded:
            log.warning("job %s was handed to another worker; this attempt stops", self._job_id)
            return "superseded"
        if self._timed_out:
            return self._fail(
                "deadline_exceeded",
                f"the answer took longer than {settings.max_generation_s:.0f} s (THINKSTREAM_MAX_GENERATION_S) and "
                "was stopped; lower max_tokens or the reasoning budget",
            )
        if outcome.finish_reason == "canceled":
            self._finish_canceled()
            return "canceled"
        result = _result(spec, len(prompt), cached, started_at, outcome)
        with redis.pipeline() as pipe:
            pipe.hset(job_key, mapping={"status": JobStatus.CHECKING.value, "result": result.model_dump_json()})
            if spec.conversation is not None:
                answer = ChatMessage(role="assistant", content="".join(self._answer))
                answered = conversation_key([answer], spec.conversation)
                pipe.set(keys.conversation_worker_key(answered), self._ctx.worker_id, ex=settings.affinity_ttl_s)
            pipe.execute()
        self._ctx.postproc_queue.enqueue(
            POSTPROC_FUNC,
            self._job_id,
            settings.job_ttl_s,
            settings.job_timeout_s,
            job_id=f"{self._job_id}-check",
            result_ttl=0,
            failure_ttl=settings.job_ttl_s,
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
            stop=spec.params.stop,
        )
        outcome = generation.run(self._publish)
        self._flush()
        return outcome

    def _publish(self, deltas: list[Delta], counts: Outcome) -> bool:
        """Called after every token: batch the text, flush it now and then, and say whether to
        go on. A cancel is seen within one token: between flushes the flag is read directly."""
        self._batch.add(deltas, counts)
        self._answer.extend(d.text for d in deltas if d.kind == "answer")
        now = time.monotonic()
        if now > self._deadline:
            self._timed_out = True
            self._flush()
            return False
        if now - self._last_flush >= self._ctx.settings.stream_flush_ms / 1000:
            self._flush()
        elif self._ctx.redis.exists(keys.job_cancel_key(self._job_id)):
            return False
        return not (self._events.canceled or self._events.closed)

    def _flush(self) -> None:
        for kind, text, tokens in self._batch.drain():
            event_cls = ReasoningEvent if kind == "reasoning" else AnswerEvent
            self._events.emit(stamp(event_cls, text=text, tokens=tokens))
            self._last_flush = time.monotonic()

    def _fail(self, code: str, message: str) -> str:
        if not self._events.superseded:
            self._ctx.redis.hset(keys.job_key(self._job_id), "status", JobStatus.FAILED.value)
            self._events.emit(stamp(ErrorEvent, message=message, code=code))
            if self._spec is not None:  # a self-consistency sample: its job votes without it
                report_sample(
                    self._ctx.redis, self._spec, answer="", key="", verdict="error", ttl_s=self._ctx.settings.job_ttl_s
                )
        return "failed"

    def _finish_canceled(self) -> None:
        self._ctx.redis.hset(keys.job_key(self._job_id), "status", JobStatus.CANCELED.value)
        self._events.emit(stamp(CanceledEvent))


def _result(spec: JobSpec, prompt_tokens: int, cached: int, started_at: float, out: Outcome) -> InferenceResult:
    first = out.first_token_at or started_at
    last = out.last_token_at or first
    decode_s = last - first
    return InferenceResult(
        finish_reason=out.finish_reason,
        reasoning_end=out.reasoning_end,
        usage=Usage(
            prompt_tokens=prompt_tokens,
            cached_tokens=cached,
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
