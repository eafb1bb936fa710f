"""Chat completions on top of jobs: a request becomes a job, the job's events become OpenAI
chunks (streaming) or one `chat.completion` (not streaming).

Function calls are read out of the answer stream here, never out of the reasoning: the worker
streams what the model wrote, and the gateway, which knows what the request offered, turns each
well-formed call into OpenAI's `tool_calls`.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field

import anyio

from services.engine.families import ToolCallSyntax
from services.engine.toolcalls import ParsedCall, Piece, ToolCallParser
from services.gateway.drain import Drain
from services.gateway.jobs import JobService
from shared.chat_api import (
    DEFAULT_EFFORT_BUDGETS,
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatTimings,
    ChatUsage,
    Choice,
    ChunkChoice,
    Delta,
    FinishReason,
    OutputFunctionCall,
    OutputToolCall,
    ThinkstreamInfo,
    ToolCallDelta,
)
from shared.schemas import (
    AnswerEvent,
    CanceledEvent,
    CheckEvent,
    CheckReport,
    DoneEvent,
    ErrorEvent,
    Finding,
    InferenceResult,
    JobAccepted,
    ReasoningEvent,
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
class ChatOptions:
    """How chat requests become jobs, from the settings. What depends on the model (whether it
    calls tools, Qwen3's `/think` switches) comes from the model each request names."""

    effort_budgets: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_EFFORT_BUDGETS))
    non_streaming_max_reasoning_tokens: int | None = None
    """Budget of a non-streaming request that sets none (front ends' title and tag requests);
    None: the server's default budget, as for streaming requests."""
    verdict_in_content: bool = False
    """Append a line with the check verdict to the answer, for clients that show only `content`."""


@dataclass(frozen=True)
class ToolUse:
    """A request's tools as the answer's parser needs them."""

    syntax: ToolCallSyntax
    functions: tuple[str, ...]
    parallel: bool = True
    """False: only the first call counts (`parallel_tool_calls: false`)."""

    def parser(self) -> ToolCallParser:
        return ToolCallParser(self.syntax, self.functions)


@dataclass(frozen=True)
class ChatJob:
    accepted: JobAccepted
    model: str
    created: int
    tools: ToolUse | None = None
    verdict_in_content: bool = False

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


class _Answer:
    """The answer of one attempt as it streams: content text and function calls apart."""

    def __init__(self, tools: ToolUse | None) -> None:
        self._tools = tools
        self._parser = tools.parser() if tools else None
        self.text: list[str] = []
        self.calls: list[OutputToolCall] = []

    def feed(self, text: str) -> list[str | OutputToolCall]:
        return self._take(self._parser.feed(text) if self._parser else [text])

    def finish(self) -> list[str | OutputToolCall]:
        return self._take(self._parser.finish() if self._parser else [])

    def _take(self, pieces: Sequence[Piece]) -> list[str | OutputToolCall]:
        out: list[str | OutputToolCall] = []
        for piece in pieces:
            if isinstance(piece, ParsedCall):
                if self.calls and self._tools is not None and not self._tools.parallel:
                    continue
                call = OutputToolCall(
                    id=f"call_{secrets.token_hex(12)}",
                    function=OutputFunctionCall(name=piece.name, arguments=piece.arguments),
                )
                self.calls.append(call)
                out.append(call)
            else:
                self.text.append(piece)
                out.append(piece)
        return out

    def finish_reason(self, result: InferenceResult) -> FinishReason:
        if self.calls:
            return "tool_calls"
        return "length" if result.finish_reason == "length" else "stop"


def verdict_line(report: CheckReport) -> str:
    """The check verdict as a line of text under the answer (and on `fail`, the first error)."""
    line = f"\n\nCheck: {report.verdict}"
    if report.verdict == "fail" and report.findings:
        first: Finding = next((f for f in report.findings if f.severity == "error"), report.findings[0])
        line += f" — {first.message}"
    return line


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
    parsed = _Answer(job.tools)
    parsed.feed(answer)
    parsed.finish()
    content = "".join(parsed.text)
    if job.verdict_in_content and report is not None and not parsed.calls:
        content += verdict_line(report)
    return ChatCompletion(
        id=job.completion_id,
        created=job.created,
        model=job.model,
        choices=[
            Choice(
                message=AssistantMessage(
                    content=content if content or not parsed.calls else None,
                    reasoning_content=reasoning,
                    reasoning=reasoning,
                    tool_calls=parsed.calls or None,
                ),
                finish_reason=parsed.finish_reason(result),
            )
        ],
        usage=ChatUsage.of(result),
        timings=ChatTimings.of(result),
        check=report,
        thinkstream=job.info(result, done, vote),
    )


class ChatService:
    def __init__(
        self,
        jobs: JobService,
        *,
        cancel_on_disconnect: bool,
        drain: Drain,
        options: ChatOptions | None = None,
    ) -> None:
        self._jobs = jobs
        self._cancel_on_disconnect = cancel_on_disconnect
        self._drain = drain
        self._options = options or ChatOptions()

    def with_jobs(self, jobs: JobService) -> ChatService:
        """This service over another view of the jobs (one API key's)."""
        return ChatService(
            jobs,
            cancel_on_disconnect=self._cancel_on_disconnect,
            drain=self._drain,
            options=self._options,
        )

    async def start(self, request: ChatCompletionRequest) -> ChatJob:
        """Raises `ModelNotFound` for a model nobody serves, `UnsupportedParameter` for a
        `tool_choice` that demands a call from a model that cannot make one."""
        route = await self._jobs.models.resolve(request.model, request.lora)
        options = self._options
        syntax = route.counter.tool_calls
        job_request = request.job_request(
            calls_tools=syntax is not None,
            max_reasoning_tokens=self._default_budget(request, route.counter.soft_switches),
            effort_budgets=options.effort_budgets,
        )
        accepted = await self._jobs.submit(job_request, route)
        tools = None
        if syntax is not None and request.uses_tools:
            names = tuple(tool["function"]["name"] for tool in request.offered_tools())
            tools = ToolUse(syntax, names, parallel=request.parallel_tool_calls is not False)
        return ChatJob(
            accepted=accepted,
            model=route.requested,
            created=int(time.time()),
            tools=tools,
            verdict_in_content=options.verdict_in_content,
        )

    def _default_budget(self, request: ChatCompletionRequest, switches: tuple[str, str] | None) -> int | None:
        """The budget of a request that sets none: 0 after the model's own "off" word (Qwen3's
        `/no_think`, which the model answers with an empty block anyway), the non-streaming
        budget for a non-streaming request, else the server's default (None)."""
        if switches is not None and _switched_off(request, switches):
            return 0
        return None if request.stream else self._options.non_streaming_max_reasoning_tokens

    async def stream(self, job: ChatJob, *, include_usage: bool) -> AsyncIterator[str]:
        """The `data:` payloads of the SSE response, ending with `[DONE]`. A client that goes
        away stops the job (unless the gateway is told otherwise, or is shutting down)."""
        async with contextlib.aclosing(self.chunks(job, include_usage=include_usage)) as chunks:
            async for chunk in chunks:
                yield json.dumps({"error": chunk.body()}) if isinstance(chunk, StreamError) else _dump(chunk)
        yield DONE

    async def chunks(
        self, job: ChatJob, *, include_usage: bool
    ) -> AsyncGenerator[ChatCompletionChunk | StreamError, None]:
        """The job's events as chat completion chunks (an error or a cancel ends them with a
        `StreamError`); other APIs' streams are made from these. Closing the iterator before its
        end is a client that went away: the job is stopped (see `stream`)."""
        finished = False
        try:
            yield self._chunk(job, Delta(role="assistant", content=""))
            report: CheckReport | None = None
            vote: VoteView | None = None
            answer = _Answer(job.tools)
            async for item in self._jobs.follow(job.accepted.id):
                event = parse_event(item.data)
                if isinstance(event, ReasoningEvent):
                    yield self._chunk(job, Delta(reasoning_content=event.text, reasoning=event.text))
                elif isinstance(event, AnswerEvent):
                    for chunk in self._answer_chunks(job, answer, answer.feed(event.text)):
                        yield chunk
                elif isinstance(event, RevisionEvent):
                    answer = _Answer(job.tools)
                    yield self._chunk(job, Delta(), ThinkstreamInfo(job_id=job.accepted.id, revision=event.round))
                elif isinstance(event, VoteEvent):
                    vote = VoteView(winner=event.winner, votes=event.votes, confidence=event.confidence)
                elif isinstance(event, CheckEvent):
                    report = event.report
                elif isinstance(event, DoneEvent):
                    for chunk in self._answer_chunks(job, answer, answer.finish()):
                        yield chunk
                    # The verdict comes after the answer; the last check is the one that counts.
                    if job.verdict_in_content and report is not None and not answer.calls:
                        yield self._chunk(job, Delta(content=verdict_line(report)))
                    yield self._final_chunk(job, event, report, include_usage, vote, answer)
                    if include_usage:
                        yield ChatCompletionChunk(
                            id=job.completion_id,
                            created=job.created,
                            model=job.model,
                            choices=[],
                            usage=ChatUsage.of(event.result),
                        )
                elif isinstance(event, ErrorEvent | CanceledEvent):
                    yield StreamError.of(event)
            finished = True
        finally:
            if not finished and self._cancel_on_disconnect and not self._drain.started:
                with anyio.CancelScope(shield=True):
                    await self._jobs.cancel(job.accepted.id)

    def _answer_chunks(
        self, job: ChatJob, answer: _Answer, pieces: list[str | OutputToolCall]
    ) -> list[ChatCompletionChunk]:
        chunks = []
        for piece in pieces:
            if isinstance(piece, str):
                chunks.append(self._chunk(job, Delta(content=piece)))
            else:
                call = ToolCallDelta(index=answer.calls.index(piece), id=piece.id, function=piece.function)
                chunks.append(self._chunk(job, Delta(tool_calls=[call])))
        return chunks

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
            elif isinstance(event, RevisionEvent):  # a new answer starts (a lost worker's job goes on instead)
                reasoning.clear()
                answer.clear()
            elif isinstance(event, VoteEvent):
                vote = VoteView(winner=event.winner, votes=event.votes, confidence=event.confidence)
            elif isinstance(event, CheckEvent):
                report = event.report
            elif isinstance(event, DoneEvent):
                return completion(job, "".join(reasoning), "".join(answer), event.result, report, done=event, vote=vote)
            elif isinstance(event, ErrorEvent | CanceledEvent):
                error = StreamError.of(event)
                raise CompletionFailed(error.message, error.code)
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
        self,
        job: ChatJob,
        event: DoneEvent,
        report: CheckReport | None,
        include_usage: bool,
        vote: VoteView | None,
        answer: _Answer,
    ) -> ChatCompletionChunk:
        """Carries the finish reason, and (like llama.cpp's server) usage and timings; with
        `include_usage` the usage comes in its own chunk after it, as OpenAI specifies."""
        return ChatCompletionChunk(
            id=job.completion_id,
            created=job.created,
            model=job.model,
            choices=[ChunkChoice(delta=Delta(), finish_reason=answer.finish_reason(event.result))],
            usage=None if include_usage else ChatUsage.of(event.result),
            timings=ChatTimings.of(event.result),
            check=report,
            thinkstream=job.info(event.result, event, vote),
        )


def _switched_off(request: ChatCompletionRequest, switches: tuple[str, str]) -> bool:
    """Whether the latest switch word in the user and system turns is the "off" one."""
    on, off = switches
    for message in reversed(request.messages):
        if message.role not in ("user", "system", "developer"):
            continue
        text = message.text()
        at_on, at_off = text.rfind(on), text.rfind(off)
        if at_on >= 0 or at_off >= 0:
            return at_off > at_on
    return False


@dataclass(frozen=True)
class StreamError:
    """How a chat stream ends when its job failed or was cancelled."""

    message: str
    type: str
    code: str

    @classmethod
    def of(cls, event: ErrorEvent | CanceledEvent) -> StreamError:
        if isinstance(event, CanceledEvent):
            return cls("the request was cancelled before it finished", "canceled", "canceled")
        return cls(event.message, "server_error", event.code)

    def body(self) -> dict[str, str]:
        return {"message": self.message, "type": self.type, "code": self.code}


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
