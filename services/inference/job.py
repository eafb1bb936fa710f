"""The inference job: generate one answer and stream it as events."""

from __future__ import annotations

import logging
import time

from services.inference.batch import DeltaBatch
from services.inference.context import InferenceContext, current_context
from services.inference.engine import Sampling
from services.inference.generation import Generation, Outcome
from services.inference.shared_prefix import with_system_prompt
from services.inference.splitter import Delta
from services.store.jobs import JobStore
from shared import keys
from shared.conversation import conversation_key
from shared.eventlog import EventWriter, Kept, stamp
from shared.schemas import (
    AnswerEvent,
    CanceledEvent,
    ChatMessage,
    ControlRequest,
    InferenceResult,
    JobSpec,
    JobStatus,
    ReasoningEvent,
    Timings,
    Usage,
)

log = logging.getLogger(__name__)


def run_inference(job_id: str, run: int = 1) -> str:
    """RQ entry point: generate the answer of run `run` of job `job_id`; returns how it ended."""
    return InferenceJob(current_context(), job_id, run).run()


class InferenceJob:
    def __init__(self, ctx: InferenceContext, job_id: str, run: int) -> None:
        self._ctx = ctx
        self._job_id = job_id
        self._run_number = run
        self._store: JobStore = ctx.store
        self._events: EventWriter = self._store.writer(job_id, run)
        self._batch = DeltaBatch()
        self._last_flush = 0.0
        self._answer: list[str] = []
        self._deadline = float("inf")
        self._timed_out = False
        self._generation: Generation | None = None
        self._round = 0

    def run(self) -> str:
        worker_id = self._ctx.worker_id
        start = self._store.start(self._job_id, self._run_number, worker_id)
        if start.outcome != "started":
            log.info("job %s run %d not run: %s", self._job_id, self._run_number, start.outcome)
            return start.outcome
        self._events = self._store.writer(self._job_id, self._run_number, start.record.origin, after_seq=start.seq)
        try:
            return self._run(start.record.spec, start.kept, start.record.owner or "", start.control)
        finally:
            self._store.release(self._job_id, worker_id)

    def _run(self, spec: JobSpec, kept: Kept | None, owner: str, control: ControlRequest | None) -> str:
        settings = self._ctx.settings
        started_at = time.time()
        self._deadline = time.monotonic() + settings.max_generation_s
        engine = self._ctx.engine
        try:
            engine.use_adapter(spec.adapter)
            engine.use_owner(owner)
            prompt = engine.prompt_tokens(with_system_prompt(spec.messages, settings.system_prompt))
            generation = self._generation = self._new_generation(spec, prompt)
            self._round = spec.round
            if kept is not None and kept.tokens:
                self._restore(generation, kept)
                # Exact: evaluated as they were generated, so a greedy job goes on as it would have.
                replay = generation.replay_chunks() if settings.resume_exact else []
                cached = engine.prepare(prompt, replay) if replay else engine.prepare(generation.context)
            else:
                cached = engine.prepare(prompt)
            if control is not None:  # an end of the reasoning asked for while the job waited
                self._apply(control)
            outcome = generation.run(self._publish)
            self._flush()
            engine.remember()
        except Exception as exc:
            log.exception("job %s failed", self._job_id)
            self._store.fail(self._job_id, "generation_failed", f"generation failed: {exc}", run=self._run_number)
            raise
        if self._events.superseded:
            log.warning("job %s was handed to another worker; this run stops", self._job_id)
            return "superseded"
        if self._timed_out:
            self._store.fail(
                self._job_id,
                "deadline_exceeded",
                f"the answer took longer than {settings.max_generation_s:.0f} s (THINKSTREAM_MAX_GENERATION_S) "
                "and was stopped; lower max_tokens or the reasoning budget",
                run=self._run_number,
            )
            return "failed"
        if outcome.finish_reason == "canceled":
            self._store.end(self._job_id, stamp(CanceledEvent), JobStatus.CANCELED, run=self._run_number)
            return "canceled"
        result = _result(spec, len(prompt), min(cached, len(prompt)), started_at, outcome)
        affinity = None
        if spec.conversation is not None:
            answer = ChatMessage(role="assistant", content="".join(self._answer))
            affinity = conversation_key([answer], spec.conversation)
        self._store.generated(self._job_id, self._run_number, self._ctx.worker_id, result, affinity=affinity)
        return result.finish_reason

    def _new_generation(self, spec: JobSpec, prompt: list[int]) -> Generation:
        return Generation(
            self._ctx.engine,
            prompt,
            max_tokens=spec.max_tokens,
            max_reasoning_tokens=spec.max_reasoning_tokens,
            n_ctx=self._ctx.model.n_ctx,
            sampling=Sampling(spec.params.temperature, spec.params.top_p, spec.params.seed),
            stop=spec.params.stop,
            budget_message=spec.thinking_budget_message,
        )

    def _restore(self, generation: Generation, kept: Kept) -> None:
        """Go on from the tokens earlier attempts streamed: replay them (their text was sent)."""
        replayed = generation.restore(kept.tokens, kept.stamps, kept.forced_close)
        reasoning = "".join(d.text for d in replayed if d.kind == "reasoning")
        answer = "".join(d.text for d in replayed if d.kind == "answer")
        if (reasoning, answer) != (kept.reasoning, kept.answer):
            # The streamed text is what clients have: it stands. Only the split state may be off.
            log.warning("job %s: its kept tokens replay to other text than was streamed", self._job_id)
        self._answer = [kept.answer]
        self._batch = DeltaBatch(after=generation.outcome)
        log.info("job %s resumes after %d streamed tokens", self._job_id, len(kept.tokens))

    def _publish(self, deltas: list[Delta], counts: Outcome) -> bool:
        """Called after every token: batch the text, flush it now and then (the first token at
        once), and say whether to go on. A cancel is seen at the next flush (the append that
        sends the text reports it); while the job reasons, a request to end the reasoning is
        read at each flush too (one read for both). Not at every token: in a worker of one job
        at a time that read was a round trip to Redis between two tokens, and decoding ran 8%
        faster without it (paired, 24 rounds)."""
        self._ctx.load.generated(1)
        self._batch.add(deltas, counts)
        self._answer.extend(d.text for d in deltas if d.kind == "answer")
        now = time.monotonic()
        if now > self._deadline:
            self._timed_out = True
            self._flush()
            return False
        if now - self._last_flush >= self._flush_interval_s():
            self._flush()
            if self._reasoning and self._read_flags():
                return False
        return not (self._events.canceled or self._events.closed)

    def _flush_interval_s(self) -> float:
        """`THINKSTREAM_STREAM_FLUSH_MS` for each job the worker runs now: a worker sends about
        as many events per second with K jobs in its slots as with one, so the gateway, Redis
        and the clients take no more of the cores that decode for all K."""
        return self._ctx.settings.stream_flush_ms / 1000 * max(self._ctx.load.busy, 1)

    @property
    def _reasoning(self) -> bool:
        return self._generation is not None and self._generation.reasoning

    def _read_flags(self) -> bool:
        """Read the cancel flag and, while the job reasons, its control; pass an end of the
        reasoning asked for this round on to the generation. True: the job was cancelled."""
        if not self._reasoning:
            return bool(self._store.events.exists(keys.job_cancel_key(self._job_id)))
        # One slot (the job's hash tag): one round trip on a cluster too.
        canceled, control = self._store.events.mget(
            keys.job_cancel_key(self._job_id), keys.job_control_key(self._job_id)
        )
        if control is not None:
            self._apply(ControlRequest.model_validate_json(control))
        return canceled is not None

    def _apply(self, request: ControlRequest) -> None:
        """Pass an end of the reasoning asked for this round on to the generation."""
        if request.action == "end_reasoning" and request.round == self._round and self._generation is not None:
            self._generation.end_reasoning()

    def _flush(self) -> None:
        for part in self._batch.drain():
            fields = {"text": part.text, "tokens": part.tokens, "token_ids": part.token_ids}
            event: ReasoningEvent | AnswerEvent = (
                stamp(ReasoningEvent, **fields, forced_close=part.forced_close)
                if part.kind == "reasoning"
                else stamp(AnswerEvent, **fields, forced_close=part.forced_close)
            )
            self._events.emit(event)
            if not self._last_flush:
                self._ctx.first_text_sent()
            self._last_flush = time.monotonic()


def _result(spec: JobSpec, prompt_tokens: int, cached: int, started_at: float, out: Outcome) -> InferenceResult:
    first = out.first_token_at or started_at
    last = out.last_token_at or first
    # This attempt's own decoding: a resumed job's earlier attempts ran elsewhere, before a gap.
    live_first = out.live_first_at or first
    decode_s = last - live_first
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
            prompt_ms=_ms(live_first - started_at),
            ttft_ms=_ms(first - spec.created_at),
            reasoning_ms=_ms((out.reasoning_end_at or last) - first) if out.reasoning_tokens else 0.0,
            total_ms=_ms(last - spec.created_at),
            tokens_per_s=round((out.live_tokens - 1) / decode_s, 2) if decode_s > 0 else 0.0,
        ),
    )


def _ms(seconds: float) -> float:
    return round(max(seconds, 0.0) * 1000, 1)
