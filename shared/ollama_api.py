"""Ollama's API wire format (`/api/chat`, `/api/generate`, `/api/tags`, `/api/show`,
`/api/version`), as thinkstream speaks it.

Requests become chat completion requests (`to_chat_request`), so both APIs run the same
machinery. As Ollama does, unknown top-level fields and unknown `options` are ignored; options
that configure Ollama's own runner (`num_ctx`, `num_gpu`, ...) change nothing here and are
ignored too. Anything that would change the answer and is not supported (`format`, `images`,
`tools`, `raw`, sampling options other than `temperature`, `top_p`, `seed`, `stop` and
`num_predict`, unless at their neutral value) is refused with a 400 that names it.

Reasoning comes back in `message.thinking` (chat) and `thinking` (generate), the answer in
`message.content` and `response`; durations are in nanoseconds, as Ollama's are.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared import limits
from shared.chat_api import ChatCompletionRequest, InputMessage
from shared.exceptions import UnsupportedParameter
from shared.schemas import BudgetMessage, CheckReport

OLLAMA_VERSION = "0.12.0"
"""The Ollama API version this gateway answers like (clients check it for features: `think`
needs 0.9 or later)."""
DEFAULT_TAG = ":latest"

NEUTRAL_OPTIONS: dict[str, float] = {
    "top_k": 0,
    "min_p": 0.0,
    "typical_p": 1.0,
    "tfs_z": 1.0,
    "repeat_penalty": 1.0,
    "presence_penalty": 0.0,
    "frequency_penalty": 0.0,
    "mirostat": 0,
}
"""Sampling options thinkstream does not implement, with the value that means "off": sent with
that value they change nothing and are accepted; any other value is refused."""
UNSUPPORTED_OPTIONS = ("repeat_last_n", "mirostat_tau", "mirostat_eta", "penalize_newline")
"""Accepted only at what they do when the option they tune is off (ignored then)."""
RUNNER_OPTIONS = (
    "num_ctx",
    "num_batch",
    "num_gpu",
    "main_gpu",
    "low_vram",
    "f16_kv",
    "vocab_only",
    "use_mmap",
    "use_mlock",
    "numa",
    "num_thread",
    "num_keep",
    "logits_all",
    "embedding_only",
)
"""Options of Ollama's model runner: the deployment fixes these here (THINKSTREAM_N_CTX, ...)."""

ThinkLevel = Literal["low", "medium", "high", "max"]


class Options(BaseModel):
    model_config = ConfigDict(extra="allow")

    num_predict: int | None = None
    """Most tokens to generate, reasoning and answer together; -1 (no limit) and -2 (fill the
    context) mean the server's default here."""
    temperature: Annotated[float | None, Field(ge=0.0, le=2.0)] = None
    top_p: Annotated[float | None, Field(gt=0.0, le=1.0)] = None
    seed: Annotated[int | None, Field(ge=0, le=2**31 - 1)] = None
    stop: list[str] | str | None = None

    def check(self) -> None:
        """Refuse what would change the answer and is not supported."""
        if self.num_predict is not None and self.num_predict not in (-1, -2) and self.num_predict < 1:
            raise UnsupportedParameter("options.num_predict", "send a positive number of tokens, -1 or -2")
        for name, value in (self.model_extra or {}).items():
            if name in NEUTRAL_OPTIONS and value is not None and value != NEUTRAL_OPTIONS[name]:
                raise UnsupportedParameter(
                    f"options.{name}",
                    f"not supported here: leave it out or send {NEUTRAL_OPTIONS[name]}",
                )
            if name in UNSUPPORTED_OPTIONS and value is not None and not _neutral_tuning(self.model_extra or {}, name):
                raise UnsupportedParameter(f"options.{name}", "not supported here: leave it out")

    @property
    def max_tokens(self) -> int | None:
        return self.num_predict if self.num_predict is not None and self.num_predict > 0 else None

    @property
    def stops(self) -> list[str] | None:
        return [self.stop] if isinstance(self.stop, str) else self.stop or None


def _neutral_tuning(options: dict[str, Any], name: str) -> bool:
    """The option only tunes another one that is off: mirostat's tau and eta without mirostat,
    the repeat window without a repeat penalty."""
    if name in ("mirostat_tau", "mirostat_eta"):
        return not options.get("mirostat")
    if name in ("repeat_last_n", "penalize_newline"):
        return options.get("repeat_penalty") in (None, 1.0)
    return False


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "user", "assistant", "tool"]
    content: Annotated[str, Field(max_length=limits.MAX_PROMPT_CHARS)] = ""
    thinking: str | None = None
    """An earlier assistant turn's reasoning: accepted and dropped (the model never sees it)."""
    images: list[str] | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_name: str | None = None

    def input_message(self, index: int) -> InputMessage:
        if self.images:
            raise UnsupportedParameter(f"messages.{index}.images", "not supported: the models here read text")
        if self.role == "tool" or self.tool_calls:
            raise UnsupportedParameter(
                f"messages.{index}",
                "tool calls and tool results are not supported on /api/chat: use /v1/chat/completions",
            )
        return InputMessage(role=self.role, content=self.content)


class _Request(BaseModel):
    """What `/api/chat` and `/api/generate` share."""

    model_config = ConfigDict(extra="ignore")

    model: Annotated[str, Field(min_length=1, max_length=256)]
    stream: bool = True
    """Ollama streams unless told not to."""
    think: bool | ThinkLevel | None = None
    """false: answer without a reasoning phase; true or a level: reason (low, medium, high: the
    reasoning_effort budgets; max: no budget but the token limit); absent: the server's default."""
    options: Options | None = None
    format: str | dict[str, Any] | None = None
    keep_alive: float | str | None = None
    """Models stay loaded in their workers here: accepted and ignored."""
    logprobs: bool | None = None
    top_logprobs: int | None = None
    # thinkstream's own, as on chat completions
    priority: Literal["high", "normal", "low"] | None = None
    thinking_budget_message: BudgetMessage | None = None

    @field_validator("format")
    @classmethod
    def _text_only(cls, value: str | dict[str, Any] | None) -> str | dict[str, Any] | None:
        if value not in (None, ""):
            raise ValueError("structured output ('json' or a schema) is not supported: leave 'format' out")
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

    def _chat_request(self, messages: list[InputMessage], model: str) -> ChatCompletionRequest:
        options = self.options or Options()
        options.check()
        effort: dict[str, Any] = {}
        if self.think is False:
            effort["reasoning_effort"] = "none"
        elif self.think is True:
            effort["reasoning_effort"] = "medium"
        elif self.think == "max":
            effort["max_reasoning_tokens"] = -1
        elif self.think is not None:
            effort["reasoning_effort"] = self.think
        return ChatCompletionRequest.model_validate(
            {
                "model": model,
                "messages": messages,
                "stream": self.stream,
                "max_tokens": options.max_tokens,
                "temperature": options.temperature,
                "top_p": options.top_p,
                "seed": options.seed,
                "stop": options.stops,
                "priority": self.priority,
                "thinking_budget_message": self.thinking_budget_message,
                **effort,
            }
        )


class ChatRequest(_Request):
    """Body of `POST /api/chat`."""

    messages: Annotated[list[Message], Field(max_length=limits.MAX_MESSAGES)] = []
    tools: list[dict[str, Any]] | None = None

    def to_chat_request(self, model: str) -> ChatCompletionRequest:
        """The chat completion request this is (`model`: the served name it resolved to)."""
        if self.tools:
            raise UnsupportedParameter("tools", "not supported on /api/chat: use /v1/chat/completions")
        return self._chat_request([m.input_message(i) for i, m in enumerate(self.messages)], model)


class GenerateRequest(_Request):
    """Body of `POST /api/generate`: one prompt (and a system message)."""

    prompt: Annotated[str, Field(max_length=limits.MAX_PROMPT_CHARS)] = ""
    system: Annotated[str, Field(max_length=limits.MAX_PROMPT_CHARS)] = ""
    suffix: str | None = None
    template: str | None = None
    raw: bool | None = None
    context: list[int] | None = None
    images: list[str] | None = None

    def to_chat_request(self, model: str) -> ChatCompletionRequest:
        for name, value in (("suffix", self.suffix), ("template", self.template), ("raw", self.raw)):
            if value:
                raise UnsupportedParameter(name, "not supported: the model's own chat template is used")
        if self.context:
            raise UnsupportedParameter("context", "not supported: send the conversation to /api/chat instead")
        if self.images:
            raise UnsupportedParameter("images", "not supported: the models here read text")
        messages = [InputMessage(role="system", content=self.system)] if self.system else []
        messages.append(InputMessage(role="user", content=self.prompt))
        return self._chat_request(messages, model)


# ---------------------------------------------------------------------------------------------
# Responses


class Metrics(BaseModel):
    """The last object's figures, in nanoseconds as Ollama gives them."""

    total_duration: int = 0
    load_duration: int = 0
    prompt_eval_count: int = 0
    prompt_eval_duration: int = 0
    eval_count: int = 0
    eval_duration: int = 0


class ResponseMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str = ""
    thinking: Annotated[str | None, Field(exclude_if=lambda text: not text)] = None


class _Response(BaseModel):
    model: str
    created_at: str = Field(default_factory=lambda: now_rfc3339())
    done: bool = False
    done_reason: Annotated[str | None, Field(exclude_if=lambda reason: reason is None)] = None
    metrics: Annotated[Metrics | None, Field(exclude=True)] = None
    check: Annotated[CheckReport | None, Field(exclude_if=lambda report: report is None)] = None
    """thinkstream's verdict on the answer (last object only); Ollama clients ignore it."""
    job_id: Annotated[str | None, Field(exclude_if=lambda job: job is None)] = None
    """thinkstream's job (last object only): `GET /v1/jobs/{job_id}` has everything."""

    def line(self) -> str:
        data = self.model_dump(mode="json")
        if self.metrics is not None:
            data.update(self.metrics.model_dump())
        return _json(data)


class ChatResponse(_Response):
    message: ResponseMessage = Field(default_factory=ResponseMessage)


class GenerateResponse(_Response):
    response: str = ""
    thinking: Annotated[str | None, Field(exclude_if=lambda text: not text)] = None


class ModelDetails(BaseModel):
    parent_model: str = ""
    format: str = "gguf"
    family: str = ""
    families: list[str] = []
    parameter_size: str = ""
    quantization_level: str = ""


class ModelEntry(BaseModel):
    """One model in `/api/tags`."""

    name: str
    model: str
    modified_at: str
    size: int
    digest: str
    """An identifier of the served file (its name, size and time), not a hash of its bytes."""
    details: ModelDetails


class ModelList(BaseModel):
    models: list[ModelEntry]


class ShowRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: Annotated[str, Field(min_length=1, max_length=256)]
    verbose: bool = False


class ShowResponse(BaseModel):
    modelfile: str
    parameters: str = ""
    template: str = ""
    details: ModelDetails
    model_info: dict[str, Any]
    capabilities: list[str]
    modified_at: str


class Version(BaseModel):
    version: str = OLLAMA_VERSION


def tagged(name: str) -> str:
    """A name as Ollama lists it: with its tag (`:latest` when it has none)."""
    return name if ":" in name else name + DEFAULT_TAG


def untagged(name: str) -> str:
    """The name a request means: Ollama's default tag is implied."""
    return name.removesuffix(DEFAULT_TAG)


def error_line(message: str) -> str:
    """Ollama's error object: the body of a refusal, and the last line of a stream that failed."""
    return _json({"error": message})


def parameter_size(file_name: str) -> str:
    """`1.5B` from `DeepSeek-R1-Distill-Qwen-1.5B-Q4_K_M.gguf`, `135M` from `SmolLM2-135M-...`."""
    found = re.search(r"(?<![A-Za-z0-9.])(\d+(?:\.\d+)?[MB])(?![A-Za-z])", file_name)
    return found.group(1) if found else ""


def quantization_level(file_name: str) -> str:
    """`Q4_K_M` from `...-Q4_K_M.gguf`, `Q4_1` from `....Q4_1.gguf`, `F16`."""
    found = re.search(r"(?<![A-Za-z0-9])((?:I?Q\d+(?:_[A-Z0-9]+)*)|F16|BF16|F32)(?=\.gguf$|[-.])", file_name, re.I)
    return found.group(1).upper() if found else ""


def now_rfc3339() -> str:
    return rfc3339(datetime.now(UTC))


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))
