"""The OpenAI/DeepSeek chat completions wire format, as thinkstream speaks it.

The gateway validates requests and builds responses with these models; the batch runner and the
tests read them back. Reasoning goes in `reasoning_content` (DeepSeek's and llama.cpp's field)
and in `reasoning` (vLLM's and Ollama's), the answer in `content`, function calls in
`tool_calls`. Extra fields that OpenAI clients ignore carry what only thinkstream has: `timings`
(llama.cpp server style), `check` (the verdict and findings) and `thinkstream`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from shared import limits
from shared.exceptions import UnsupportedParameter
from shared.schemas import (
    FUNCTION_NAME_PATTERN,
    BudgetMessage,
    ChatMessage,
    CheckReport,
    FunctionCall,
    InferenceResult,
    JobRequest,
    ReasoningEnd,
    ToolCall,
    VoteView,
)
from shared.text import no_nul

REASONING_BUDGET_ALIASES = (
    "max_reasoning_tokens",
    "thinking_budget_tokens",
    "thinking_token_budget",
    "reasoning_budget",
)
"""Our name first; then llama.cpp server's per-request name, vLLM's, and llama.cpp's option name."""

ReasoningEffort = Literal["none", "minimal", "low", "medium", "high"]
DEFAULT_EFFORT_BUDGETS: Mapping[str, int] = {"none": 0, "minimal": 0, "low": 256, "medium": 768, "high": 2048}
"""Reasoning budget (tokens) per `reasoning_effort`; the gateway's settings override low/medium/high."""
MAX_TOOLS = 128
"""OpenAI's limit on function definitions per request."""


class _Forbid(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TextPart(_Forbid):
    type: Literal["text"]
    text: str


class FunctionName(_Forbid):
    name: Annotated[str, Field(pattern=FUNCTION_NAME_PATTERN)]


class InputFunctionCall(FunctionName):
    arguments: str
    """A JSON object, as a string (OpenAI's format)."""

    @field_validator("arguments")
    @classmethod
    def _json_object(cls, arguments: str) -> str:
        try:
            value = json.loads(arguments or "{}")
        except json.JSONDecodeError as exc:
            raise ValueError(f"arguments must be a JSON object as a string: {exc}") from None
        if not isinstance(value, dict):
            raise ValueError('arguments must be a JSON object as a string, e.g. \'{"city": "Paris"}\'')
        return arguments


class InputToolCall(_Forbid):
    """A function call of an earlier assistant turn, as the client got it."""

    id: Annotated[str, Field(min_length=1, max_length=256)]
    type: Literal["function"] = "function"
    function: InputFunctionCall

    def to_call(self) -> ToolCall:
        arguments = json.loads(self.function.arguments or "{}")
        return ToolCall(id=self.id, function=FunctionCall(name=self.function.name, arguments=arguments))


class FunctionDefinition(FunctionName):
    model_config = ConfigDict(extra="allow")  # JSON Schema keywords and vendor extras pass through
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolDefinition(_Forbid):
    """One entry of `tools`: a function the model may call."""

    type: Literal["function"]
    function: FunctionDefinition


class NamedToolChoice(_Forbid):
    type: Literal["function"]
    function: FunctionName


ToolChoice = Literal["none", "auto", "required"] | NamedToolChoice


class InputMessage(_Forbid):
    """A message as OpenAI clients send it. `reasoning_content` (or `reasoning`) of earlier
    assistant turns is accepted and dropped: the model never sees past reasoning."""

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: Annotated[str, Field(max_length=limits.MAX_PROMPT_CHARS)] | list[TextPart] | None = None
    name: str | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None
    tool_calls: list[InputToolCall] | None = None
    """An assistant turn's function calls."""
    tool_call_id: str | None = None
    """A `tool` turn: which call this is the result of."""

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
        if self.tool_calls and self.role != "assistant":
            raise ValueError("only an assistant message has 'tool_calls'")
        if self.role == "tool" and not self.tool_call_id:
            raise ValueError("a tool message needs 'tool_call_id': the id of the call it answers")
        return self

    def chat_message(self) -> ChatMessage:
        return ChatMessage(
            role="system" if self.role == "developer" else self.role,
            content=self.text(),
            tool_calls=[call.to_call() for call in self.tool_calls] if self.tool_calls else None,
            tool_call_id=self.tool_call_id if self.role == "tool" else None,
        )


class StreamOptions(_Forbid):
    include_usage: bool = False


class ResponseFormat(_Forbid):
    type: Literal["text"]


class LoraRequest(_Forbid):
    """One entry of `lora`, as llama-server takes it: an adapter by its `id` (its place among the
    model's adapters in GET /v1/models) or, here also, by `name`; `scale` 0 leaves it off."""

    id: Annotated[int | None, Field(ge=0)] = None
    name: Annotated[str | None, Field(max_length=64)] = None
    scale: Annotated[float | None, Field(ge=0.0, le=4.0)] = None
    """Default: the adapter's configured scale."""

    @model_validator(mode="after")
    def _named(self) -> LoraRequest:
        if (self.id is None) == (self.name is None):
            raise ValueError("give an adapter's 'id' or its 'name'")
        return self


class ChatCompletionRequest(_Forbid):
    """Body of `POST /v1/chat/completions`."""

    model: str | None = None
    """Omit to use the default model. `MODEL:ADAPTER` picks one of the model's LoRA adapters."""
    lora: Annotated[list[LoraRequest] | None, Field(max_length=16)] = None
    """thinkstream (llama-server's field): the LoRA adapter to answer with."""
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
    priority: Literal["high", "normal", "low"] | None = None
    """thinkstream: which waiting work goes first (default: the API key's own, else `normal`).
    OpenAI's `service_tier` changes nothing here; this does."""
    reasoning_effort: ReasoningEffort | None = None
    """`none`/`minimal`: no reasoning phase; `low`/`medium`/`high`: the budgets in the settings.
    An explicit `max_reasoning_tokens` wins."""
    thinking_budget_message: BudgetMessage | None = None
    """llama-server's field: written into the reasoning when the budget closes it ("": nothing;
    not given: the server's default, in the question's language)."""
    tools: Annotated[list[ToolDefinition] | None, Field(max_length=MAX_TOOLS)] = None
    """Functions the model may call; shown to models whose template supports tool calls, left
    out for the others (which answer in text)."""
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    """false: at most one call per reply (the first one)."""

    # Accepted and ignored: they change nothing about the answer here.
    metadata: dict[str, Any] | None = None
    store: bool | None = None
    service_tier: str | None = None
    prompt_cache_key: str | None = None
    safety_identifier: str | None = None
    logit_bias: dict[str, float] | None = None
    top_logprobs: int | None = None
    modalities: list[Literal["text"]] | None = None

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

    @field_validator("top_logprobs")
    @classmethod
    def _no_top_logprobs(cls, value: int | None) -> int | None:
        if value:
            raise ValueError("logprobs are not supported: leave it out or send 0")
        return value

    @field_validator("logit_bias")
    @classmethod
    def _no_logit_bias(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        if value:
            raise ValueError("logit_bias is not supported: leave it out or send {}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ChatCompletionRequest:
        if self.max_tokens and self.max_completion_tokens and self.max_tokens != self.max_completion_tokens:
            raise ValueError("max_tokens and max_completion_tokens disagree: send only one")
        if self.stream_options is not None and not self.stream:
            raise ValueError("stream_options is only allowed with stream: true")
        if self.tool_choice not in (None, "none", "auto") and not self.tools:
            raise ValueError("tool_choice requires tools: send the functions in 'tools'")
        if isinstance(self.tool_choice, NamedToolChoice) and self.tool_choice.function.name not in self.function_names:
            raise ValueError(f"tool_choice names {self.tool_choice.function.name!r}, which is not in 'tools'")
        return self

    @property
    def include_usage(self) -> bool:
        return self.stream_options is not None and self.stream_options.include_usage

    @property
    def function_names(self) -> list[str]:
        return [tool.function.name for tool in self.tools or []]

    @property
    def uses_tools(self) -> bool:
        """Whether the model is to see the tools (any tool_choice but "none")."""
        return bool(self.tools) and self.tool_choice != "none"

    def offered_tools(self) -> list[dict[str, Any]]:
        """The definitions the model sees: all of them, or only the named one."""
        tools = [tool.model_dump(exclude_none=True) for tool in self.tools or []]
        if isinstance(self.tool_choice, NamedToolChoice):
            return [tool for tool in tools if tool["function"]["name"] == self.tool_choice.function.name]
        return tools

    def reasoning_budget(self, effort_budgets: Mapping[str, int] = DEFAULT_EFFORT_BUDGETS) -> int | None:
        """The request's own budget: `max_reasoning_tokens` (-1: none but `max_tokens`), else
        `reasoning_effort`'s; None leaves it to the server."""
        if self.max_reasoning_tokens == -1:
            return -1
        if self.max_reasoning_tokens is not None:
            return self.max_reasoning_tokens
        if self.reasoning_effort is not None:
            return effort_budgets[self.reasoning_effort]
        return None

    def job_request(
        self,
        *,
        calls_tools: bool = False,
        max_reasoning_tokens: int | None = None,
        effort_budgets: Mapping[str, int] = DEFAULT_EFFORT_BUDGETS,
    ) -> JobRequest:
        """The equivalent `/v1/jobs` request (its validation adds the conversation rules).

        `calls_tools`: whether the model can call functions; if not, `tools` are left out (the
        model answers in text) and a `tool_choice` that demands a call is refused.
        `max_reasoning_tokens`: the budget when the request sets none itself.
        """
        if not calls_tools and self.tools and self.tool_choice not in (None, "none", "auto"):
            raise UnsupportedParameter(
                "tool_choice",
                "this model cannot call tools (its chat template has no tool calls): send tool_choice"
                ' "auto" or "none", or leave it out, and the model answers in text',
            )
        messages = [m.chat_message() for m in self.messages]
        if calls_tools and self.uses_tools:
            messages.insert(0, ChatMessage(role="system", content="", tools=self.offered_tools()))
        stops = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        sampling: dict[str, Any] = {
            key: value
            for key, value in (("temperature", self.temperature), ("top_p", self.top_p), ("seed", self.seed))
            if value is not None
        }
        budget = self.reasoning_budget(effort_budgets)
        return JobRequest(
            messages=messages,
            max_tokens=self.max_completion_tokens or self.max_tokens,
            max_reasoning_tokens=budget if budget is not None else max_reasoning_tokens,
            stop=stops,
            samples=self.samples,
            revise=self.revise,
            priority=self.priority,
            thinking_budget_message=self.thinking_budget_message,
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
    revision: int | None = None
    """On a chunk: the answer so far failed its checks and revision `revision` starts over."""
    rounds: int = 1
    passed: bool | None = None
    """With `revise`: whether an answer passed the checks."""
    vote: VoteView | None = None
    """With `samples`: how the samples' answers split; `confidence` is the winner's share."""


FinishReason = Literal["stop", "length", "tool_calls"]


class OutputFunctionCall(BaseModel):
    name: str
    arguments: str
    """A JSON object, as a string."""


class OutputToolCall(BaseModel):
    id: str
    type: Literal["function"] = "function"
    function: OutputFunctionCall


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str | None
    """None when the reply is only function calls, as OpenAI sends it."""
    reasoning_content: str
    reasoning: str
    """The same text as `reasoning_content`, under vLLM's and Ollama's name."""
    tool_calls: Annotated[list[OutputToolCall] | None, Field(exclude_if=lambda calls: calls is None)] = None
    """Only when the model called functions (the key is absent otherwise, as OpenAI sends it)."""


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


class ToolCallDelta(BaseModel):
    """A whole function call in one streamed delta (OpenAI's clients also accept it in parts)."""

    index: int
    id: str
    type: Literal["function"] = "function"
    function: OutputFunctionCall


class Delta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None
    tool_calls: list[ToolCallDelta] | None = None


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
    aliases: list[str] = []
    """Other names requests may use for it."""
    adapters: list[str] = []
    """Its LoRA adapters (`lora` ids are their places in this list), each also listed as
    `MODEL:ADAPTER`."""
    family: str | None = None
    """Its reasoning template family (how its reasoning opens, whether it calls tools)."""
    parent: str | None = None
    """For an alias or an adapter: the model it names (as vLLM lists LoRA adapters)."""


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
