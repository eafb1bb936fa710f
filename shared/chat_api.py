"""The OpenAI/DeepSeek chat completions wire format, as thinkstream speaks it.

The gateway validates requests and builds responses with these models; the batch runner and the
tests read them back. Reasoning goes in `reasoning_content` (DeepSeek's and llama.cpp's field),
the answer in `content`. Extra fields that OpenAI clients ignore carry what only thinkstream has:
`timings` (llama.cpp server style), `check` (the verdict and findings) and `thinkstream`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from shared import limits
from shared.schemas import ChatMessage, CheckReport, InferenceResult, JobRequest, ReasoningEnd, VoteView
from shared.text import no_nul

REASONING_BUDGET_ALIASES = (
    "max_reasoning_tokens",
    "thinking_budget_tokens",
    "thinking_token_budget",
    "reasoning_budget",
)
"""Our name first; then llama.cpp server's per-request name, vLLM's, and llama.cpp's option name."""


class _Forbid(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TextPart(_Forbid):
    type: Literal["text"]
    text: str


class InputMessage(_Forbid):
    """A message as OpenAI clients send it. `reasoning_content` of earlier assistant turns is
    accepted and dropped: the model never sees past reasoning."""

    role: Literal["system", "developer", "user", "assistant"]
    content: Annotated[str, Field(max_length=limits.MAX_PROMPT_CHARS)] | list[TextPart] | None = None
    name: str | None = None
    reasoning_content: str | None = None

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)

    @field_validator("content")
    @classmethod
    def _plain_text(cls, content: str | list[TextPart] | None) -> str | list[TextPart] | None:
        for text in [content] if isinstance(content, str) else [part.text for part in content or []]:
            no_nul(text)
        return content

    @model_validator(mode="after")
    def _has_content(self) -> InputMessage:
        if self.content is None and self.role != "assistant":
            raise ValueError(f"a {self.role} message needs 'content'")
        return self


class StreamOptions(_Forbid):
    include_usage: bool = False


class ResponseFormat(_Forbid):
    type: Literal["text"]


class ChatCompletionRequest(_Forbid):
    """Body of `POST /v1/chat/completions`."""

    model: str | None = None
    """Omit to use the served model."""
    messages: Annotated[list[InputMessage], Field(min_length=1, max_length=limits.MAX_MESSAGES)]
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: Annotated[int | None, Field(ge=1, le=limits.MAX_TOKENS_LIMIT)] = None
    max_completion_tokens: Annotated[int | None, Field(ge=1, le=limits.MAX_TOKENS_LIMIT)] = None
    max_reasoning_tokens: Annotated[
        int | None,
        Field(ge=-1, le=limits.MAX_TOKENS_LIMIT, validation_alias=AliasChoices(*REASONING_BUDGET_ALIASES)),
    ] = None
    """Reasoning budget in tokens (-1: no budget but `max_tokens`; 0: answer at once)."""
    temperature: Annotated[float | None, Field(ge=0.0, le=2.0)] = None
    top_p: Annotated[float | None, Field(gt=0.0, le=1.0)] = None
    seed: Annotated[int | None, Field(ge=0, le=2**31 - 1)] = None
    stop: Annotated[str, Field(min_length=1, max_length=limits.MAX_STOP_CHARS)] | list[str] | None = None
    n: Annotated[int, Field(ge=1)] = 1
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    logprobs: bool | None = None
    response_format: ResponseFormat | None = None
    user: Annotated[str | None, Field(max_length=256)] = None
    """OpenAI's end-user id: accepted and ignored."""
    samples: Annotated[int, Field(ge=1, le=limits.MAX_SAMPLES)] = 1
    """thinkstream: self-consistency over this many sampled answers."""
    revise: Annotated[int, Field(ge=0, le=limits.MAX_REVISIONS)] = 0
    """thinkstream: let the model correct an answer that fails its checks, up to this many times."""

    @field_validator("n")
    @classmethod
    def _one_choice(cls, n: int) -> int:
        if n != 1:
            raise ValueError("only n=1 is supported: send separate requests for more choices")
        return n

    @field_validator("frequency_penalty", "presence_penalty")
    @classmethod
    def _no_penalty(cls, value: float | None) -> float | None:
        if value:
            raise ValueError("penalties are not supported: leave it out or send 0")
        return value

    @field_validator("logprobs")
    @classmethod
    def _no_logprobs(cls, value: bool | None) -> bool | None:
        if value:
            raise ValueError("logprobs are not supported: leave it out or send false")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ChatCompletionRequest:
        if self.max_tokens and self.max_completion_tokens and self.max_tokens != self.max_completion_tokens:
            raise ValueError("max_tokens and max_completion_tokens disagree: send only one")
        if self.stream_options is not None and not self.stream:
            raise ValueError("stream_options is only allowed with stream: true")
        return self

    @property
    def include_usage(self) -> bool:
        return self.stream_options is not None and self.stream_options.include_usage

    def job_request(self) -> JobRequest:
        """The equivalent `/v1/jobs` request (its validation adds the conversation rules)."""
        messages = [
            ChatMessage(role="system" if m.role == "developer" else m.role, content=m.text()) for m in self.messages
        ]
        stops = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        sampling = {
            key: value
            for key, value in (("temperature", self.temperature), ("top_p", self.top_p), ("seed", self.seed))
            if value is not None
        }
        budget = self.max_reasoning_tokens
        return JobRequest(
            messages=messages,
            max_tokens=self.max_completion_tokens or self.max_tokens,
            max_reasoning_tokens=budget,
            stop=stops,
            samples=self.samples,
            revise=self.revise,
            **sampling,
        )


# ---------------------------------------------------------------------------------------------
# Responses


class PromptTokensDetails(BaseModel):
    cached_tokens: int = 0


class CompletionTokensDetails(BaseModel):
    reasoning_tokens: int = 0


class ChatUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails
    completion_tokens_details: CompletionTokensDetails

    @classmethod
    def of(cls, result: InferenceResult) -> ChatUsage:
        usage = result.usage
        return cls(
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            total_tokens=usage.prompt_tokens + usage.completion_tokens,
            prompt_tokens_details=PromptTokensDetails(cached_tokens=usage.cached_tokens),
            completion_tokens_details=CompletionTokensDetails(reasoning_tokens=usage.reasoning_tokens),
        )


class ChatTimings(BaseModel):
    """In the spirit of llama.cpp server's `timings`, plus the queue wait and time to first token."""

    queue_ms: float
    cache_n: int
    """Prompt tokens reused from the worker's KV cache."""
    prompt_n: int
    """Prompt tokens evaluated for this request."""
    prompt_ms: float
    prompt_per_second: float
    predicted_n: int
    predicted_ms: float
    predicted_per_second: float
    ttft_ms: float
    total_ms: float

    @classmethod
    def of(cls, result: InferenceResult) -> ChatTimings:
        usage, t = result.usage, result.timings
        evaluated = max(usage.prompt_tokens - usage.cached_tokens, 0)
        predicted_ms = max(t.total_ms - t.ttft_ms, 0.0)
        return cls(
            queue_ms=t.queued_ms,
            cache_n=usage.cached_tokens,
            prompt_n=evaluated,
            prompt_ms=t.prompt_ms,
            prompt_per_second=round(evaluated / t.prompt_ms * 1000, 2) if t.prompt_ms > 0 else 0.0,
            predicted_n=usage.completion_tokens,
            predicted_ms=round(predicted_ms, 1),
            predicted_per_second=t.tokens_per_s,
            ttft_ms=t.ttft_ms,
            total_ms=t.total_ms,
        )


class ThinkstreamInfo(BaseModel):
    """What only thinkstream knows about a completion."""

    job_id: str
    dropped_messages: int = 0
    """How many of the oldest messages were left out so the conversation fits the context."""
    reasoning_end: ReasoningEnd | None = None
    retry: int | None = None
    """On a chunk: the job's worker died and attempt `retry` starts over from the beginning."""
    revision: int | None = None
    """On a chunk: the answer so far failed its checks and revision `revision` starts over."""
    rounds: int = 1
    passed: bool | None = None
    """With `revise`: whether an answer passed the checks."""
    vote: VoteView | None = None
    """With `samples`: how the samples' answers split; `confidence` is the winner's share."""


FinishReason = Literal["stop", "length"]


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str
    reasoning_content: str


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: FinishReason
    logprobs: None = None


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: ChatUsage
    timings: ChatTimings
    check: CheckReport | None = None
    thinkstream: ThinkstreamInfo


class Delta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None
    reasoning_content: str | None = None


class ChunkChoice(BaseModel):
    index: int = 0
    delta: Delta
    finish_reason: FinishReason | None = None
    logprobs: None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: ChatUsage | None = None
    timings: ChatTimings | None = None
    check: CheckReport | None = None
    thinkstream: ThinkstreamInfo | None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "thinkstream"
    workers: int = 0
    """Live inference workers serving it."""
    n_ctx: int | None = None


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
