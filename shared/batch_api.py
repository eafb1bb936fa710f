"""OpenAI's Batch and Files wire format, as thinkstream speaks it, and the batch input parser.

A batch input file is JSONL: one request per line, either OpenAI's request line
`{"custom_id", "method": "POST", "url": "/v1/chat/completions", "body": {...}}` or the short
`{"custom_id", "question"}`. The gateway validates a whole file before anything runs and the
`thinkstream batch` command checks its input with the same parser, so both report the same
line numbers. Result lines carry the `chat.completion` the request would have got on its own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shared import limits
from shared.chat_api import ChatCompletion, ChatCompletionRequest
from shared.schemas import JobAccepted, JobView

BATCH_ENDPOINT = "/v1/chat/completions"
COMPLETION_WINDOW = "24h"
"""The only window OpenAI offers; thinkstream accepts it and runs a batch as fast as it can."""
MAX_CUSTOM_ID_CHARS = 512
MAX_REPORTED_ERRORS = 100
"""A file with more invalid lines reports the first ones and how many there are in all."""
NDJSON_MEDIA_TYPES = ("application/x-ndjson", "application/jsonl", "application/x-jsonlines")
"""Content types of a batch input file posted as the body of `POST /v1/batches`."""


class _Forbid(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------------------------------------
# Input lines

CustomId = Annotated[str, Field(min_length=1, max_length=MAX_CUSTOM_ID_CHARS)]


class RequestLine(_Forbid):
    """One line of an OpenAI batch input file."""

    custom_id: CustomId
    method: Literal["POST"]
    url: Literal["/v1/chat/completions"]
    body: ChatCompletionRequest

    @field_validator("body")
    @classmethod
    def _not_streaming(cls, body: ChatCompletionRequest) -> ChatCompletionRequest:
        if body.stream:
            raise ValueError("stream is not supported in a batch: each result is written whole")
        return body


class QuestionLine(_Forbid):
    """The short form: one user question, with optional length limits."""

    custom_id: CustomId
    question: Annotated[str, Field(min_length=1, max_length=limits.MAX_PROMPT_CHARS)]
    max_tokens: Annotated[int | None, Field(ge=1, le=limits.MAX_TOKENS_LIMIT)] = None
    max_reasoning_tokens: Annotated[int | None, Field(ge=-1, le=limits.MAX_TOKENS_LIMIT)] = None

    def request_line(self) -> RequestLine:
        body: dict[str, Any] = {"messages": [{"role": "user", "content": self.question}]}
        body.update(self.model_dump(include={"max_tokens", "max_reasoning_tokens"}, exclude_none=True))
        return RequestLine(
            custom_id=self.custom_id, method="POST", url="/v1/chat/completions", body=ChatCompletionRequest(**body)
        )


class LineError(BaseModel):
    """Why a batch was refused: OpenAI's `BatchError`, with the 1-based input line when there is one."""

    code: str
    message: str
    line: int | None = None
    param: str | None = None


class _LineInvalid(ValueError):
    def __init__(self, message: str, param: str | None) -> None:
        self.message = message
        self.param = param
        super().__init__(message)


@dataclass(frozen=True)
class InputLine:
    line: int
    """1-based line number in the input file."""
    request: RequestLine


def parse_batch_input(data: bytes, *, max_lines: int | None = None) -> tuple[list[InputLine], list[LineError]]:
    """Every request in a JSONL batch file, and every problem with it by line number. Blank
    lines are skipped; `custom_id`s must be unique. A file with any error must be refused whole."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return [], [LineError(code="invalid_file", message=f"the file is not UTF-8 text (byte {exc.start})")]
    lines: list[InputLine] = []
    errors: list[LineError] = []
    first_seen: dict[str, int] = {}
    requests = 0
    for number, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        requests += 1
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            errors.append(
                LineError(code="invalid_json", line=number, message=f"not JSON: {exc.msg} at column {exc.colno}")
            )
            continue
        except RecursionError:
            message = "the JSON is nested too deeply: a request needs a few levels, not hundreds"
            errors.append(LineError(code="invalid_json", line=number, message=message))
            continue
        except ValueError as exc:  # an integer of thousands of digits, among others
            errors.append(LineError(code="invalid_json", line=number, message=f"the JSON cannot be read: {exc}"))
            continue
        try:
            request = _request(value)
        except _LineInvalid as exc:
            errors.append(LineError(code="invalid_request", line=number, message=exc.message, param=exc.param))
            continue
        except RecursionError:  # parsed, but nested past what validation follows
            message = "the request is nested too deeply: a request needs a few levels, not hundreds"
            errors.append(LineError(code="invalid_request", line=number, message=message))
            continue
        if request.custom_id in first_seen:
            message = f"custom_id {request.custom_id!r} is already used on line {first_seen[request.custom_id]}"
            errors.append(LineError(code="duplicate_custom_id", line=number, param="custom_id", message=message))
            continue
        first_seen[request.custom_id] = number
        lines.append(InputLine(number, request))
    if requests == 0:
        errors.append(LineError(code="empty_file", message="the file has no requests: write one JSON object per line"))
    if max_lines is not None and requests > max_lines:
        message = f"the file has {requests} requests but a batch takes at most {max_lines}: split it"
        errors.insert(0, LineError(code="too_many_requests", message=message))
    if len(errors) > MAX_REPORTED_ERRORS:
        more = len(errors) - MAX_REPORTED_ERRORS
        errors = [*errors[:MAX_REPORTED_ERRORS], LineError(code="more_errors", message=f"and {more} more problems")]
    return lines, errors


def describe_errors(errors: list[LineError]) -> str:
    """One message for a refused file: the first problems, by line."""
    shown = "; ".join(f"line {e.line}: {e.message}" if e.line else e.message for e in errors[:5])
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return f"the batch input has {len(errors)} problem(s), nothing was run: {shown}{more}"


def _request(value: object) -> RequestLine:
    if not isinstance(value, dict):
        raise _LineInvalid("each line must be a JSON object", None)
    if "question" not in value and "body" not in value:
        raise _LineInvalid("give a 'question', or OpenAI's 'method', 'url' and 'body'", None)
    try:
        if "question" in value and "body" not in value:
            request = QuestionLine.model_validate(value).request_line()
        else:
            request = RequestLine.model_validate(value)
    except ValidationError as exc:
        raise _invalid(exc) from exc
    try:
        request.body.job_request()  # the conversation rules (last turn from the user, not empty)
    except ValidationError as exc:
        raise _invalid(exc, prefix="body") from exc
    return request


def _invalid(exc: ValidationError, prefix: str | None = None) -> _LineInvalid:
    problems, params = [], []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(part) for part in ((prefix,) if prefix else ()) + tuple(err.get("loc", ())))
        params.append(loc or None)
        message = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        problems.append(f"{loc}: {message}" if loc else message)
    return _LineInvalid("; ".join(problems), params[0] if params else None)


# ---------------------------------------------------------------------------------------------
# Files

FilePurpose = Literal["batch", "batch_output"]


class FileObject(BaseModel):
    """OpenAI's `file` object."""

    id: str
    object: Literal["file"] = "file"
    bytes: int
    created_at: int
    filename: str
    purpose: FilePurpose
    status: Literal["processed"] = "processed"
    expires_at: int | None = None
    status_details: None = None


class FileRecord(BaseModel):
    """What the gateway stores beside a file's bytes."""

    file: FileObject
    owner: str | None = None
    """The API key id that created it (None when keys are off); other keys get 404."""


class FileList(BaseModel):
    """Body of `GET /v1/files`: one page of the key's files, newest first (OpenAI's shape)."""

    object: Literal["list"] = "list"
    data: list[FileObject]
    first_id: str | None
    last_id: str | None
    has_more: bool
    """Pass `last_id` as `after` for the next page."""


class FileDeleted(BaseModel):
    id: str
    object: Literal["file"] = "file"
    deleted: bool


# ---------------------------------------------------------------------------------------------
# Batches

BatchStatus = Literal[
    "validating", "failed", "in_progress", "finalizing", "completed", "expired", "cancelling", "cancelled"
]


class CreateBatchRequest(_Forbid):
    """Body of `POST /v1/batches` (JSON): run an uploaded file."""

    input_file_id: str
    endpoint: Literal["/v1/chat/completions"]
    completion_window: Literal["24h"]
    metadata: Annotated[dict[str, Annotated[str, Field(max_length=512)]] | None, Field(max_length=16)] = None
    output_expires_after: dict[str, Any] | None = None
    """Accepted and ignored: output files live `THINKSTREAM_BATCH_TTL_S` like everything else."""


class RequestCounts(BaseModel):
    total: int
    completed: int
    """Requests answered (HTTP 200 in the result)."""
    failed: int
    """Requests that ended in an error (cancelled requests count as neither)."""


class BatchErrors(BaseModel):
    object: Literal["list"] = "list"
    data: list[LineError]


class BatchMarks(BaseModel):
    """When the batch entered each status, and its output files: set once each, never changed."""

    in_progress_at: int | None = None
    finalizing_at: int | None = None
    completed_at: int | None = None
    failed_at: int | None = None
    cancelling_at: int | None = None
    cancelled_at: int | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None

    @property
    def status(self) -> BatchStatus:
        order: list[tuple[int | None, BatchStatus]] = [
            (self.failed_at, "failed"),
            (self.cancelled_at, "cancelled"),
            (self.completed_at, "completed"),
            (self.finalizing_at, "finalizing"),
            (self.cancelling_at, "cancelling"),
            (self.in_progress_at, "in_progress"),
        ]
        return next((status for at, status in order if at is not None), "validating")


class Batch(BaseModel):
    """OpenAI's `batch` object."""

    id: str
    object: Literal["batch"] = "batch"
    endpoint: str
    errors: BatchErrors | None = None
    input_file_id: str
    completion_window: str
    status: BatchStatus
    output_file_id: str | None = None
    error_file_id: str | None = None
    created_at: int
    in_progress_at: int | None = None
    expires_at: int | None = None
    finalizing_at: int | None = None
    completed_at: int | None = None
    failed_at: int | None = None
    expired_at: int | None = None
    cancelling_at: int | None = None
    cancelled_at: int | None = None
    request_counts: RequestCounts
    metadata: dict[str, str] | None = None
    model: str | None = None

    @property
    def is_final(self) -> bool:
        return self.status in ("failed", "completed", "expired", "cancelled")


class BatchList(BaseModel):
    """Body of `GET /v1/batches`: one page of the key's batches, newest first (OpenAI's shape)."""

    object: Literal["list"] = "list"
    data: list[Batch]
    first_id: str | None
    last_id: str | None
    has_more: bool
    """Pass `last_id` as `after` for the next page."""


class BatchItem(BaseModel):
    """One request of a running batch and the job that answers it."""

    line: int
    custom_id: str
    model: str
    """The model name as the request gave it (or the served name): the response echoes it."""
    job: JobAccepted


class BatchRecord(BaseModel):
    """What the gateway stores for a batch; written once, never sent as is."""

    id: str
    owner: str | None = None
    """The API key id that created it (None when keys are off); other keys get 404."""
    endpoint: str = BATCH_ENDPOINT
    input_file_id: str
    completion_window: str = COMPLETION_WINDOW
    created_at: int
    metadata: dict[str, str] | None = None
    model: str
    errors: list[LineError] = []
    items: list[BatchItem] = []


# ---------------------------------------------------------------------------------------------
# Results

Outcome = Literal["completed", "failed", "cancelled", "expired"]


class ErrorDetail(BaseModel):
    message: str
    type: str
    code: str


class ErrorBody(BaseModel):
    error: ErrorDetail


class BatchResponse(BaseModel):
    status_code: int
    request_id: str
    """The id of the job that answered (`GET /v1/jobs/{id}` shows it)."""
    body: ChatCompletion | ErrorBody


class ResultError(BaseModel):
    """Why a request has no response at all (it was cancelled, or its result expired)."""

    code: str
    message: str


class BatchResultLine(BaseModel):
    """One line of a batch's output or error file."""

    id: str
    custom_id: str
    response: BatchResponse | None = None
    error: ResultError | None = None

    @property
    def outcome(self) -> Outcome:
        if self.response is not None:
            return "completed" if self.response.status_code == 200 else "failed"
        assert self.error is not None
        return "expired" if self.error.code == "batch_expired" else "cancelled"


class ItemResult(BaseModel):
    """What a batch keeps of one finished item: the job as its client would see it. The gateway
    renders the result line (the `chat.completion`) from it when the batch is read."""

    line: int
    outcome: Outcome
    view: JobView


def output_file_ids(batch_id: str) -> tuple[str, str]:
    """The ids of a batch's output and error files (they exist once the batch has such lines)."""
    short_id = batch_id.removeprefix("batch_")
    return f"file-{short_id}-output", f"file-{short_id}-errors"


def batch_of_output_file(file_id: str) -> str | None:
    """The batch whose output or error file `file_id` is, or None for an uploaded file."""
    for suffix in ("-output", "-errors"):
        if file_id.startswith("file-") and file_id.endswith(suffix):
            return "batch_" + file_id.removeprefix("file-").removesuffix(suffix)
    return None


class BatchResultsPage(BaseModel):
    """Body of `GET /v1/batches/{id}/results`: the batch and the results collected after `after`."""

    object: Literal["list"] = "list"
    batch: Batch
    data: list[BatchResultLine]
    next_after: int
    """Pass as `after` next time to get only later results."""
