"""Typed messages shared by the gateway, the inference worker and the post-processing worker.

Producers serialize with these models and consumers validate with them, so a field renamed on
one side fails loudly on the other instead of silently going missing.
"""

from __future__ import annotations

import enum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from shared import limits


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------------------------------------
# Requests


class ChatMessage(_Strict):
    """One turn of a conversation."""

    role: Literal["system", "user", "assistant"]
    content: Annotated[str, Field(max_length=limits.MAX_PROMPT_CHARS)]


class GenerationParams(_Strict):
    """Sampling and length controls for one job. `None` means "use the server default"."""

    max_tokens: Annotated[int | None, Field(ge=1, le=limits.MAX_TOKENS_LIMIT)] = None
    max_reasoning_tokens: Annotated[int | None, Field(ge=0, le=limits.MAX_TOKENS_LIMIT)] = None
    temperature: Annotated[float, Field(ge=0.0, le=2.0)] = 0.0
    top_p: Annotated[float, Field(gt=0.0, le=1.0)] = 1.0
    seed: Annotated[int | None, Field(ge=0, le=2**31 - 1)] = None


class JobRequest(GenerationParams):
    """Body of `POST /v1/jobs`: either a single `prompt` or a list of chat `messages`."""

    prompt: Annotated[str | None, Field(max_length=limits.MAX_PROMPT_CHARS)] = None
    messages: Annotated[list[ChatMessage] | None, Field(max_length=limits.MAX_MESSAGES)] = None

    @model_validator(mode="after")
    def _one_input(self) -> JobRequest:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("give exactly one of 'prompt' (a string) or 'messages' (a list)")
        if self.prompt is not None and not self.prompt.strip():
            raise ValueError("'prompt' is empty: write a question")
        if self.messages is not None:
            if not self.messages:
                raise ValueError("'messages' is empty: add at least one user message")
            if self.messages[-1].role != "user":
                raise ValueError("the last message must have role 'user'")
            if not self.messages[-1].content.strip():
                raise ValueError("the last user message is empty: write a question")
        return self

    def chat(self) -> list[ChatMessage]:
        if self.messages is not None:
            return list(self.messages)
        assert self.prompt is not None
        return [ChatMessage(role="user", content=self.prompt)]

    def params(self) -> GenerationParams:
        return GenerationParams.model_validate(self.model_dump(include=set(GenerationParams.model_fields)))


class JobSpec(_Strict):
    """What the gateway stores for a worker: the resolved request of one job."""

    job_id: str
    messages: list[ChatMessage]
    params: GenerationParams
    prompt_tokens: int
    max_tokens: int
    max_reasoning_tokens: int
    created_at: float
    """Epoch seconds when the gateway accepted the job."""


# ---------------------------------------------------------------------------------------------
# Results


class JobStatus(str, enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    CHECKING = "checking"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def is_final(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED)


FinishReason = Literal["stop", "length", "canceled"]
ReasoningEnd = Literal["model", "budget", "eos", "length"]
"""How the reasoning block ended: closed by the model, forced at the reasoning budget, forced
because the model stopped while still reasoning, or cut off by `max_tokens`."""


class Usage(_Strict):
    prompt_tokens: int = 0
    reasoning_tokens: int = 0
    answer_tokens: int = 0

    @property
    def completion_tokens(self) -> int:
        return self.reasoning_tokens + self.answer_tokens


class Timings(_Strict):
    """Milliseconds are measured from the moment the gateway accepted the job."""

    queued_ms: float = 0.0
    """Accepted → a worker started it."""
    prompt_ms: float = 0.0
    """Worker start → first generated token (prompt evaluation)."""
    ttft_ms: float = 0.0
    """Accepted → first generated token."""
    reasoning_ms: float = 0.0
    """First token → end of the reasoning block."""
    total_ms: float = 0.0
    """Accepted → last generated token."""
    tokens_per_s: float = 0.0
    """Generated tokens per second of decoding (first to last token)."""


class InferenceResult(_Strict):
    """What the inference worker hands to post-processing."""

    finish_reason: FinishReason
    reasoning_end: ReasoningEnd | None
    usage: Usage
    timings: Timings


Verdict = Literal["pass", "fail", "unsure"]
Severity = Literal["error", "warning", "info"]


class Span(_Strict):
    """A character range `[start, end)` in the reasoning or the answer."""

    field: Literal["reasoning", "answer"]
    start: Annotated[int, Field(ge=0)]
    end: Annotated[int, Field(ge=0)]


class Finding(_Strict):
    """One thing a check noticed, with where it is."""

    check: str
    severity: Severity
    message: str
    span: Span | None = None


class CheckReport(_Strict):
    verdict: Verdict
    findings: list[Finding] = []
    checks_run: list[str] = []
    verified: int = 0
    """How many facts the checks confirmed; zero verified and no errors means `unsure`."""


# ---------------------------------------------------------------------------------------------
# Stream events


class EventBase(_Strict):
    seq: int
    """1, 2, 3… per job; the SSE `id`."""
    ts: float
    """Epoch seconds when the event was produced."""


class QueuedEvent(EventBase):
    type: Literal["queued"] = "queued"
    position: int
    """How many jobs were ahead of this one when it was accepted."""


class StartedEvent(EventBase):
    type: Literal["started"] = "started"
    worker: str
    attempt: int = 1


class ReasoningEvent(EventBase):
    type: Literal["reasoning"] = "reasoning"
    text: str
    tokens: int = 0
    """How many generated tokens this text covers (a worker sends a few tokens per event)."""


class AnswerEvent(EventBase):
    type: Literal["answer"] = "answer"
    text: str
    tokens: int = 0
    """How many generated tokens this text covers."""


class CheckEvent(EventBase):
    type: Literal["check"] = "check"
    report: CheckReport


class DoneEvent(EventBase):
    type: Literal["done"] = "done"
    result: InferenceResult


class ErrorEvent(EventBase):
    type: Literal["error"] = "error"
    message: str
    code: str = "internal"


class CanceledEvent(EventBase):
    type: Literal["canceled"] = "canceled"


Event = Annotated[
    QueuedEvent | StartedEvent | ReasoningEvent | AnswerEvent | CheckEvent | DoneEvent | ErrorEvent | CanceledEvent,
    Field(discriminator="type"),
]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)
TERMINAL_EVENT_TYPES = frozenset({"done", "error", "canceled"})


def parse_event(raw: str | bytes) -> Event:
    return EVENT_ADAPTER.validate_json(raw)


# ---------------------------------------------------------------------------------------------
# The job as a client sees it


class JobView(BaseModel):
    """Body of `GET /v1/jobs/{id}`: the job folded from its events."""

    id: str
    status: JobStatus
    reasoning: str = ""
    answer: str = ""
    finish_reason: FinishReason | None = None
    reasoning_end: ReasoningEnd | None = None
    usage: Usage = Usage()
    timings: Timings = Timings()
    checks: CheckReport | None = None
    error: str | None = None
    created_at: float


class JobAccepted(BaseModel):
    """Body of the `202` answer to `POST /v1/jobs`."""

    id: str
    status: JobStatus
    events_url: str
    prompt_tokens: int
    queue_position: int


class JobCancel(BaseModel):
    """Body of the answer to `DELETE /v1/jobs/{id}`: the status right after the request."""

    id: str
    status: JobStatus
