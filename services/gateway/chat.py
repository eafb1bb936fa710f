"""Chat completions on top of jobs: a request becomes a job, the job's events become OpenAI
chunks (streaming) or one `chat.completion` (not streaming)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import anyio

from services.gateway.drain import Drain
from services.gateway.jobs import JobService
from services.gateway.workers import ModelDirectory
from shared.chat_api import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatTimings,
    ChatUsage,
    Choice,
    ChunkChoice,
    Delta,
    ThinkstreamInfo,
)
from shared.schemas import (
    AnswerEvent,
    CanceledEvent,
    CheckEvent,
    CheckReport,
    DoneEvent,
    ErrorEvent,
    InferenceResult,
    JobAccepted,
    ReasoningEvent,
    RetryEvent,
    RevisionEvent,
    VoteEvent,
    VoteView,
    parse_event,
)

DONE = "[DONE]"


class CompletionFailed(Exception):
    """The job behind a non-streaming completion ended with an error or was cancelled."""

    def __init__(self, message: str, code: str) -> None:
        self.code = code
        super().__init__(message)


@dataclass(frozen=True)
class ChatJob:
    accepted: JobAccepted
    model: str
    created: int

    @property
    def completion_id(self) -> str:
        return f"chatcmpl-{self.accepted.id}"

    def info(
        self, result: InferenceResult | None = None, done: DoneEvent | None = None, vote: VoteView | None = None
    ) -> ThinkstreamInfo:
        return ThinkstreamInfo(
            job_id=self.accepted.id,
            dropped_messages=self.accepted.dropped_messages,
            reasoning_end=result.reasoning_end if result else None,
            rounds=done.rounds if done else 1,
            passed=done.passed if done else None,
            vote=vote,
        )


def completion(
    job: ChatJob,
    reasoning: str,
    answer: str,
    result: InferenceResult,
    report: CheckReport | None,
    *,
    done: DoneEvent | None = None,
    vote: VoteView | None = None,
) -> ChatCompletion:
    """The `chat.completion` of a finished job: the non-streaming reply, and the body of a
    batch item's result."""
    return ChatCompletion(
        id=job.completion_id,
        created=job.created,
        model=job.model,
        choices=[
            Choice(
                message=AssistantMessage(content=answer, reasoning_content=reasoning),
                finish_reason="length" if result.finish_reason == "length" else "stop",
            )
        ],
        usage=ChatUsage.of(result),
        timings=ChatTimings.of(result),
        check=report,
        thinkstream=job.info(result, done, vote),
    )


class ChatService:
    def __init__(self, jobs: JobService, models: ModelDirectory, *, cancel_on_disconnect: bool, drain: Drain) -> None:
        self._jobs = jobs
        self._models = models
        self._cancel_on_disconnect = cancel_on_disconnect
        self._drain = drain

    def with_jobs(self, jobs: JobService) -> ChatService:
        """This service over another view of the jobs (one API key's)."""
        return ChatService(jobs, self._models, cancel_on_disconnect=self._cancel_on_disconnect, drain=self._drain)

    async def start(self, request: ChatCompletionRequest) -> ChatJob:
        model = self._models.resolve(request.model)
        accepted = await self._jobs.submit(request.job_request())
        return ChatJob(accepted=accepted, model=model, created=int(time.time()))

    async def stream(self, job: ChatJob, *, include_usage: bool) -> AsyncIterator[str]:
        """The `data:` payloads of the SSE response, ending with `[DONE]`. A client that goes
        away stops the job (unless the gateway is told otherwise, or is shutting down)."""
        finished = False
        try:
            yield _dump(self._chunk(job, Delta(role="assistant", content="")))
            report: CheckReport | None = None
            vote: VoteView | None = None
            async for item in self._jobs.follow(job.accepted.id):
                event = parse_event(item.data)
                if isinstance(event, ReasoningEvent):
                    yield _dump(self._chunk(job, Delta(reasoning_content=event.text)))
                elif isinstance(event, AnswerEvent):
                    yield _dump(self._chunk(job, Delta(content=event.text)))
                elif isinstance(event, RetryEvent):
                    # A chunk stream cannot take back text: say that a new attempt starts.
                    retry = self._chunk(job, Delta(), ThinkstreamInfo(job_id=job.accepted.id, retry=event.attempt))
                    yield _dump(retry)
                elif isinstance(event, RevisionEvent):
                    info = ThinkstreamInfo(job_id=job.accepted.id, revision=event.round)
                    yield _dump(self._chunk(job, Delta(), info))
                elif isinstance(event, VoteEvent):
                    vote = VoteView(winner=event.winner, votes=event.votes, confidence=event.confidence)
                elif isinstance(event, CheckEvent):
                    report = event.report
                elif isinstance(event, DoneEvent):
                    yield _dump(self._final_chunk(job, event, report, include_usage, vote))
                    if include_usage:
                        usage = ChatCompletionChunk(
                            id=job.completion_id,
                            created=job.created,
                            model=job.model,
                            choices=[],
                            usage=ChatUsage.of(event.result),
                        )
                        yield _dump(usage)
                elif isinstance(event, ErrorEvent | CanceledEvent):
                    yield json.dumps({"error": _stream_error(event)})
            finished = True
            yield DONE
        finally:
            if not finished and self._cancel_on_disconnect and not self._drain.started:
                with anyio.CancelScope(shield=True):
                    await self._jobs.cancel(job.accepted.id)

    async def complete(self, job: ChatJob) -> ChatCompletion:
        reasoning: list[str] = []
        answer: list[str] = []
        report: CheckReport | None = None
        vote: VoteView | None = None
        async for item in self._jobs.follow(job.accepted.id):
            event = parse_event(item.data)
            if isinstance(event, ReasoningEvent):
                reasoning.append(event.text)
            elif isinstance(event, AnswerEvent):
                answer.append(event.text)
            elif isinstance(event, RetryEvent | RevisionEvent):  # a new attempt starts over
                reasoning.clear()
                answer.clear()
            elif isinstance(event, VoteEvent):
                vote = VoteView(winner=event.winner, votes=event.votes, confidence=event.confidence)
            elif isinstance(event, CheckEvent):
                report = event.report
            elif isinstance(event, DoneEvent):
                return completion(job, "".join(reasoning), "".join(answer), event.result, report, done=event, vote=vote)
            elif isinstance(event, ErrorEvent | CanceledEvent):
                error = _stream_error(event)
                raise CompletionFailed(error["message"], error["code"])
        raise CompletionFailed("the job's event stream ended without a result", "internal")

    def _chunk(self, job: ChatJob, delta: Delta, info: ThinkstreamInfo | None = None) -> ChatCompletionChunk:
        return ChatCompletionChunk(
            id=job.completion_id,
            created=job.created,
            model=job.model,
            choices=[ChunkChoice(delta=delta)],
            thinkstream=info,
        )

    def _final_chunk(
        self, job: ChatJob, event: DoneEvent, report: CheckReport | None, include_usage: bool, vote: VoteView | None
    ) -> ChatCompletionChunk:
        """Carries the finish reason, and (like llama.cpp's server) usage and timings; with
        `include_usage` the usage comes in its own chunk after it, as OpenAI specifies."""
        finish = "length" if event.result.finish_reason == "length" else "stop"
        return ChatCompletionChunk(
            id=job.completion_id,
            created=job.created,
            model=job.model,
            choices=[ChunkChoice(delta=Delta(), finish_reason=finish)],
            usage=None if include_usage else ChatUsage.of(event.result),
            timings=ChatTimings.of(event.result),
            check=report,
            thinkstream=job.info(event.result, event, vote),
        )


def _stream_error(event: ErrorEvent | CanceledEvent) -> dict[str, str]:
    if isinstance(event, CanceledEvent):
        return {"message": "the request was cancelled before it finished", "type": "canceled", "code": "canceled"}
    return {"message": event.message, "type": "server_error", "code": event.code}


def _dump(chunk: ChatCompletionChunk) -> str:
    """OpenAI's chunk layout: `finish_reason` and `logprobs` always present (null until set),
    delta fields and thinkstream's extras only when they have a value."""
    data = chunk.model_dump(mode="json")
    for key in ("usage", "timings", "check", "thinkstream"):
        if data[key] is None:
            del data[key]
    for choice in data["choices"]:
        choice["delta"] = {k: v for k, v in choice["delta"].items() if v is not None}
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))
