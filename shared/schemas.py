"""Typed messages shared by the gateway, the inference worker and the post-processing worker.

Producers serialize with these models and consumers validate with them, so a field renamed on
one side fails loudly on the other instead of silently going missing.
"""

from __future__ import annotations

import enum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from shared import limits
from shared.models import LoraChoice
from shared.text import no_nul


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------------------------------------
# Requests


FUNCTION_NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
"""OpenAI's rule for function names (plus dots, which MCP tools use). Templates write names as
they are, so the rule also keeps markup out of them."""


class FunctionCall(_Strict):
    name: Annotated[str, Field(pattern=FUNCTION_NAME_PATTERN)]
    arguments: dict[str, Any]
    """The call's arguments as a JSON object (OpenAI's wire format carries them as a string)."""


class ToolCall(_Strict):
    """A function call the assistant made in an earlier turn."""

    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatMessage(_Strict):
    """One turn of a conversation."""

    role: Literal["system", "user", "assistant", "tool"]
    content: Annotated[str, Field(max_length=limits.MAX_PROMPT_CHARS), AfterValidator(no_nul)]
    tool_calls: list[ToolCall] | None = None
    """An assistant turn's function calls."""
    tool_call_id: str | None = None
    """A `tool` turn: the call whose result `content` is."""
    tools: list[dict[str, Any]] | None = None
    """The functions the model may call (OpenAI's `tools`). Only on a system message with empty
    content placed first: it carries the definitions through the fitting (system messages always
    stay) to the prompt, which renders them where the model's template puts them."""

    @property
    def carries_tools(self) -> bool:
        return self.tools is not None


StopSequence = Annotated[str, Field(min_length=1, max_length=limits.MAX_STOP_CHARS), AfterValidator(no_nul)]


BudgetMessage = Annotated[str, Field(max_length=limits.MAX_BUDGET_MESSAGE_CHARS), AfterValidator(no_nul)]
"""A `thinking_budget_message`: what the worker writes into the reasoning when the budget closes
it ("" for nothing)."""


class GenerationParams(_Strict):
    """Sampling and length controls for one job. `None` means "use the server default"."""

    max_tokens: Annotated[int | None, Field(ge=1, le=limits.MAX_TOKENS_LIMIT)] = None
    max_reasoning_tokens: Annotated[int | None, Field(ge=-1, le=limits.MAX_TOKENS_LIMIT)] = None
    """Reasoning budget in tokens: -1 = no budget but `max_tokens`, 0 = answer at once; not given:
    the server's default, capped so that part of `max_tokens` stays for the answer."""
    temperature: Annotated[float, Field(ge=0.0, le=2.0)] = 0.0
    top_p: Annotated[float, Field(gt=0.0, le=1.0)] = 1.0
    seed: Annotated[int | None, Field(ge=0, le=2**31 - 1)] = None
    stop: Annotated[list[StopSequence], Field(max_length=limits.MAX_STOP_SEQUENCES)] = []
    """The answer ends before the first of these strings (the reasoning is not cut by them)."""


class JobRequest(GenerationParams):
    """Body of `POST /v1/jobs`: either a single `prompt` or a list of chat `messages`."""

    prompt: Annotated[str | None, Field(max_length=limits.MAX_PROMPT_CHARS), AfterValidator(no_nul)] = None
    messages: Annotated[list[ChatMessage] | None, Field(max_length=limits.MAX_MESSAGES)] = None
    samples: Annotated[int, Field(ge=1, le=limits.MAX_SAMPLES)] = 1
    """Self-consistency: sample this many reasoning paths (at temperature 0.7 unless one is
    given) and majority-vote their final answers; the split is the confidence."""
    revise: Annotated[int, Field(ge=0, le=limits.MAX_REVISIONS)] = 0
    """When the checks fail an answer, show the model its reasoning and the findings and let it
    try again, up to this many times; the job ends with the first answer that passes."""
    priority: Literal["high", "normal", "low"] | None = None
    """Which waiting jobs go first (with aging: a lower priority is delayed, never starved);
    default: the API key's own, else `normal`. Batch items are `low`."""
    model: str | None = None
    """The model to answer (a name or alias from GET /v1/models, or `MODEL:ADAPTER` for one of
    its LoRA adapters); default: the first model."""
    thinking_budget_message: BudgetMessage | None = None
    """Written into the reasoning, for the model to read, when the budget closes it (llama-server's
    name); "" writes nothing; not given: the server's (`THINKSTREAM_THINKING_BUDGET_MESSAGE`, in
    Chinese for a question written mostly in Chinese characters)."""

    @model_validator(mode="after")
    def _one_input(self) -> JobRequest:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("give exactly one of 'prompt' (a string) or 'messages' (a list)")
        if self.prompt is not None and not self.prompt.strip():
            raise ValueError("'prompt' is empty: write a question")
        if self.messages is not None:
            if not self.messages:
                raise ValueError("'messages' is empty: add at least one user message")
            if self.messages[-1].role not in ("user", "tool"):
                raise ValueError("the last message must have role 'user' (or 'tool', a function's result)")
            if self.messages[-1].role == "user" and not self.messages[-1].content.strip():
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
    thinking_budget_message: str = ""
    """What the worker writes into the reasoning when the budget closes it, resolved by the
    gateway (the request's, else the server's default in the question's language); "": nothing."""
    dropped_messages: int = 0
    """How many of the oldest messages were left out so the conversation fits the context."""
    conversation: str | None = None
    """`conversation_key` of the whole request (reasoning stripped); the worker extends it with
    its answer so the conversation's next turn can be routed back to it."""
    samples: int = 1
    revise: int = 0
    round: int = 0
    """0 for the first answer, n for the n-th revision."""
    parent: str | None = None
    """For one of several samples: the job that votes over them."""
    sample_index: int | None = None
    adapter: LoraChoice | None = None
    """The LoRA adapter of the model to compute with (None: the base model)."""


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
ReasoningEnd = Literal["model", "budget", "eos", "requested", "length"]
"""How the reasoning block ended: closed by the model, forced at the reasoning budget, forced
because the model stopped while still reasoning, closed because a client asked for the answer
now (`POST /v1/jobs/{id}/control`), or cut off by `max_tokens`."""
CloseReason = Literal["budget", "eos", "requested"]
"""Why the worker closed the reasoning block itself."""


class Usage(_Strict):
    prompt_tokens: int = 0
    cached_tokens: int = 0
    """Prompt tokens whose state the worker already held (KV cache), so were not evaluated."""
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
    """A character range `[start, end)` in the reasoning, the answer or the question."""

    field: Literal["reasoning", "answer", "question"]
    start: Annotated[int, Field(ge=0)]
    end: Annotated[int, Field(ge=0)]


class Finding(_Strict):
    """One thing a check noticed, with where it is."""

    check: str
    severity: Severity
    message: str
    span: Span | None = None
    related_span: Span | None = None
    """A second place the finding rests on: the reasoning's conclusion an answer contradicts."""
    quote: str | None = None
    """What the model wrote there, verbatim (`12 + 30 = 32`)."""
    expected: str | None = None
    """The checked value or statement (`12 + 30 = 42`): what the revision prompt tells the model."""


class CheckReport(_Strict):
    verdict: Verdict
    findings: list[Finding] = []
    checks_run: list[str] = []
    verified: int = 0
    """How many facts the checks confirmed; zero verified and no errors means `unsure`."""
    answer_confirmed: bool = False
    """The question's own expression or equations give exactly the answer's values: the answer is
    right even if the verdict is `fail` (its reasoning contradicts it). Such an answer is not
    revised: a revision would adopt the reasoning's wrong value."""


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
    """How many jobs go before this one: at acceptance, the jobs of its kind waiting then; in
    each later update (sent while it waits, when its place changes), the waiting jobs the
    workers will take first, in the scheduler's real order (0: it is next)."""
    eta_s: float | None = None
    """In an update: seconds from `ts` until a worker is expected to start it, from the pace of
    the live workers and the budgets of the jobs ahead; None when there is nothing to measure the
    pace by yet (no finished job) or no live worker."""


class StartedEvent(EventBase):
    type: Literal["started"] = "started"
    worker: str
    attempt: int = 1


class RetryEvent(EventBase):
    type: Literal["retry"] = "retry"
    attempt: int
    """The attempt about to start (2 for the first retry). It goes on from the last token
    streamed (`resumed`): the text sent so far stands."""
    reason: str


class ResumedEvent(EventBase):
    """A worker goes on with a job whose earlier worker was lost: after it comes the rest of the
    text, from where the stream stopped. Nothing streamed before is repeated or taken back."""

    type: Literal["resumed"] = "resumed"
    worker: str
    attempt: int
    tokens_kept: int
    """Generated tokens of the earlier attempts this one goes on from (not generated again)."""


class ForcedClose(_Strict):
    """Where the worker closed the reasoning block itself (budget forcing, or on request)."""

    at_token: int
    """How many generated tokens came before the close."""
    reason: CloseReason


class _TextEvent(EventBase):
    text: str
    tokens: int = 0
    """How many generated tokens this text covers (a worker sends a few tokens per event)."""
    token_ids: list[int] = []
    """The ids of the tokens generated since the previous text event, in order (some of their
    text may come in a later event: a tag fragment or a stop string's start is held back). A
    worker that takes over a job goes on from the prompt plus all of them."""
    forced_close: ForcedClose | None = None
    """On the first text event after the worker closed the reasoning block itself."""


class ReasoningEvent(_TextEvent):
    type: Literal["reasoning"] = "reasoning"


class AnswerEvent(_TextEvent):
    type: Literal["answer"] = "answer"


class CheckEvent(EventBase):
    type: Literal["check"] = "check"
    report: CheckReport


class RevisionEvent(EventBase):
    type: Literal["revision"] = "revision"
    round: int
    """The revision about to run (1 for the first); its text replaces the failed answer's."""
    findings: list[Finding]
    """The errors the model is asked to fix."""


class SampleView(BaseModel):
    """One self-consistency sample, finished."""

    index: int
    job_id: str
    """The sample's own job: its stream has the sample's reasoning and any revisions."""
    answer: str
    key: str
    """The answer normalised for voting (its final values, else its words)."""
    verdict: Verdict | Literal["error"]
    rounds: int = 1


class VoteView(BaseModel):
    winner: int
    """Index of the sample whose reasoning and answer the job reports."""
    votes: dict[str, int]
    """How many samples gave each (normalised) answer."""
    confidence: float
    """The winning answer's share of the samples that answered."""


class SampleEvent(EventBase, SampleView):
    type: Literal["sample"] = "sample"


class VoteEvent(EventBase, VoteView):
    type: Literal["vote"] = "vote"


class DoneEvent(EventBase):
    type: Literal["done"] = "done"
    result: InferenceResult
    rounds: int = 1
    """Answers the job went through (more than 1 after revisions)."""
    passed: bool | None = None
    """With `revise`: whether an answer passed the checks (else the last one is reported)."""


class ErrorEvent(EventBase):
    type: Literal["error"] = "error"
    message: str
    code: str = "internal"


class CanceledEvent(EventBase):
    type: Literal["canceled"] = "canceled"


Event = Annotated[
    QueuedEvent
    | StartedEvent
    | RetryEvent
    | ResumedEvent
    | RevisionEvent
    | SampleEvent
    | VoteEvent
    | ReasoningEvent
    | AnswerEvent
    | CheckEvent
    | DoneEvent
    | ErrorEvent
    | CanceledEvent,
    Field(discriminator="type"),
]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)
TERMINAL_EVENT_TYPES = frozenset({"done", "error", "canceled"})


def parse_event(raw: str | bytes) -> Event:
    return EVENT_ADAPTER.validate_json(raw)


# ---------------------------------------------------------------------------------------------
# The job as a client sees it


class EarlierAnswer(BaseModel):
    """An answer that failed its checks and was revised."""

    round: int
    reasoning: str
    answer: str
    checks: CheckReport | None = None


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
    attempt: int = 1
    """How many workers the job took (a job whose worker died goes on on another, from its
    last streamed token)."""
    revisions: list[EarlierAnswer] = []
    """With `revise`: the answers that failed their checks, oldest first."""
    passed: bool | None = None
    samples: list[SampleView] = []
    vote: VoteView | None = None
    created_at: float


class JobAccepted(BaseModel):
    """Body of the `202` answer to `POST /v1/jobs`."""

    id: str
    status: JobStatus
    events_url: str
    prompt_tokens: int
    queue_position: int
    dropped_messages: int = 0
    """How many of the oldest messages were left out so the conversation fits the context."""


ControlAction = Literal["end_reasoning"]
CONTROL_ACTIONS: tuple[ControlAction, ...] = ("end_reasoning",)
"""What `POST /v1/jobs/{id}/control` can ask of a running job (cancelling is `DELETE`)."""


class JobControlRequest(BaseModel):
    """Body of `POST /v1/jobs/{id}/control`. `end_reasoning`: close the reasoning at the next
    token and let the model answer from what it has."""

    model_config = ConfigDict(extra="forbid")

    action: str
    """One of `CONTROL_ACTIONS`; anything else is refused with a 400 that lists them."""


class ControlRequest(_Strict):
    """What the job store leaves for the worker under `job_control_key`: an action for one
    revision round of the job (a revision reasons afresh)."""

    action: ControlAction
    round: int


class JobControlAccepted(BaseModel):
    """Body of the `202` answer to `POST /v1/jobs/{id}/control`."""

    id: str
    action: ControlAction
    status: JobStatus


class JobCancel(BaseModel):
    """Body of the answer to `DELETE /v1/jobs/{id}`: the status right after the request."""

    id: str
    status: JobStatus
