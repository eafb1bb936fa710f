"""Turning errors into JSON responses. Every error body has the same shape:
`{"error": {"message": ..., "type": ..., "code": ...}}` (OpenAI's), with a message that says what
to fix."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.gateway.body_limit import BodyTooLarge, BodyTooSlow, too_large_response, too_slow_response
from services.gateway.chat import CompletionFailed
from services.gateway.exceptions import (
    BadCursor,
    FileTooLarge,
    InvalidApiKey,
    InvalidBatch,
    ModelNotFound,
    ModelUnavailable,
    NothingMoreToStream,
    QueueBusy,
    QueueUnavailable,
    RateLimited,
    ResourceNotFound,
)
from services.gateway.listing import UnknownCursor
from services.store.exceptions import ControlRefused, KeyQueueFull, StorageFull, StorageQuotaExceeded
from shared.exceptions import JobNotFound, PriorityNotAllowed, PromptTooLong, UnsupportedParameter


def error_body(message: str, type_: str, code: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "code": code, **extra}}


def _location(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def _validation_message(exc: RequestValidationError) -> str:
    problems = []
    for err in exc.errors():
        msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        problems.append(f"{_location(tuple(err.get('loc', ())))}: {msg}")
    return "; ".join(problems) or "the request is invalid"


KEY_QUEUE_RETRY_AFTER_S = 5
"""What a key at its waiting-jobs limit is told to wait: about one short job."""

OPENAI_PATHS = ("/v1/chat/", "/v1/models", "/v1/batches", "/v1/files")
"""Routes in OpenAI's shape answer an invalid request with 400, as OpenAI does; the others with 422."""


_UNPARSABLE = "There was an error parsing the body"
_UNPARSABLE_HINT = (
    "send well-formed JSON in UTF-8 (numbers of at most 4300 digits, at most a few hundred levels of nesting)"
)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
            for e in exc.errors()
        ]
        body = error_body(_validation_message(exc), "invalid_request_error", "invalid_request", details=details)
        if request.url.path.startswith(OPENAI_PATHS):
            body["error"]["param"] = _location(tuple(details[0]["loc"])) if details else None
            return JSONResponse(body, status_code=400)
        return JSONResponse(body, status_code=422)

    @app.exception_handler(UnsupportedParameter)
    async def _unsupported(_: Request, exc: UnsupportedParameter) -> JSONResponse:
        body = error_body(str(exc), "invalid_request_error", "unsupported_parameter", param=exc.param)
        return JSONResponse(body, status_code=400)

    @app.exception_handler(UnknownCursor)
    async def _bad_cursor(_: Request, exc: UnknownCursor) -> JSONResponse:
        body = error_body(str(exc), "invalid_request_error", "invalid_cursor", param="after")
        return JSONResponse(body, status_code=400)

    @app.exception_handler(PromptTooLong)
    async def _too_long(_: Request, exc: PromptTooLong) -> JSONResponse:
        body = error_body(
            str(exc),
            "invalid_request_error",
            "context_length_exceeded",
            prompt_tokens=exc.prompt_tokens,
            max_prompt_tokens=exc.max_prompt_tokens,
            n_ctx=exc.n_ctx,
        )
        return JSONResponse(body, status_code=413)

    @app.exception_handler(JobNotFound)
    async def _not_found(_: Request, exc: JobNotFound) -> JSONResponse:
        return JSONResponse(error_body(str(exc), "invalid_request_error", "job_not_found"), status_code=404)

    @app.exception_handler(ControlRefused)
    async def _refused(_: Request, exc: ControlRefused) -> JSONResponse:
        return JSONResponse(error_body(str(exc), "invalid_request_error", exc.code), status_code=409)

    @app.exception_handler(QueueUnavailable)
    async def _unavailable(_: Request, exc: QueueUnavailable) -> JSONResponse:
        body = error_body(f"{exc}; try again in a few seconds", "server_error", "queue_unavailable")
        return JSONResponse(body, status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(CompletionFailed)
    async def _failed(_: Request, exc: CompletionFailed) -> JSONResponse:
        if exc.code == "canceled":
            return JSONResponse(error_body(str(exc), "invalid_request_error", exc.code), status_code=409)
        if exc.code == "model_unavailable":  # no worker of the model came up in time
            body = error_body(str(exc), "server_error", exc.code, param="model")
            return JSONResponse(body, status_code=503, headers={"Retry-After": "30"})
        return JSONResponse(error_body(str(exc), "server_error", exc.code), status_code=500)

    @app.exception_handler(ModelNotFound)
    async def _no_model(_: Request, exc: ModelNotFound) -> JSONResponse:
        body = error_body(str(exc), "invalid_request_error", "model_not_found", param="model")
        return JSONResponse(body, status_code=404)

    @app.exception_handler(ModelUnavailable)
    async def _model_unavailable(_: Request, exc: ModelUnavailable) -> JSONResponse:
        body = error_body(str(exc), "server_error", "model_unavailable", param="model")
        return JSONResponse(body, status_code=503, headers={"Retry-After": "30"})

    @app.exception_handler(QueueBusy)
    async def _full(_: Request, exc: QueueBusy) -> JSONResponse:
        body = error_body(str(exc), "rate_limit_error", "queue_full", waiting=exc.waiting)
        return JSONResponse(body, status_code=429, headers={"Retry-After": str(exc.retry_after_s)})

    @app.exception_handler(StorageQuotaExceeded)
    async def _quota(_: Request, exc: StorageQuotaExceeded) -> JSONResponse:
        body = error_body(
            str(exc), "rate_limit_error" if exc.status == 429 else "invalid_request_error", "storage_quota_exceeded"
        )
        headers = {"Retry-After": "60"} if exc.status == 429 else None
        return JSONResponse(body, status_code=exc.status, headers=headers)

    @app.exception_handler(PriorityNotAllowed)
    async def _priority(_: Request, exc: PriorityNotAllowed) -> JSONResponse:
        body = error_body(str(exc), "permission_error", "priority_not_allowed", param="priority")
        return JSONResponse(body, status_code=403)

    @app.exception_handler(StorageFull)
    async def _storage_full(_: Request, exc: StorageFull) -> JSONResponse:
        body = error_body(str(exc), "server_error", "storage_full")
        return JSONResponse(body, status_code=503, headers={"Retry-After": "30"})

    @app.exception_handler(KeyQueueFull)
    async def _key_full(_: Request, exc: KeyQueueFull) -> JSONResponse:
        body = error_body(
            f"{exc}; retry in {KEY_QUEUE_RETRY_AFTER_S} s", "rate_limit_error", "rate_limit_exceeded", limit=exc.limit
        )
        return JSONResponse(body, status_code=429, headers={"Retry-After": str(KEY_QUEUE_RETRY_AFTER_S)})

    @app.exception_handler(ResourceNotFound)
    async def _no_resource(_: Request, exc: ResourceNotFound) -> JSONResponse:
        return JSONResponse(error_body(str(exc), "invalid_request_error", exc.code), status_code=404)

    @app.exception_handler(InvalidBatch)
    async def _invalid_batch(_: Request, exc: InvalidBatch) -> JSONResponse:
        errors = [error.model_dump() for error in exc.errors]
        return JSONResponse(error_body(str(exc), "invalid_request_error", "invalid_batch", errors=errors), 400)

    @app.exception_handler(FileTooLarge)
    async def _too_large(_: Request, exc: FileTooLarge) -> JSONResponse:
        body = error_body(str(exc), "invalid_request_error", "file_too_large", limit_bytes=exc.limit_bytes)
        return JSONResponse(body, status_code=413)

    @app.exception_handler(InvalidApiKey)
    async def _no_key(_: Request, exc: InvalidApiKey) -> JSONResponse:
        body = error_body(str(exc), "invalid_request_error", "invalid_api_key")
        return JSONResponse(body, status_code=401, headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(BadCursor)
    async def _bad_cursor_value(_: Request, exc: BadCursor) -> JSONResponse:
        return JSONResponse(error_body(str(exc), "invalid_request_error", "invalid_cursor"), status_code=400)

    @app.exception_handler(RateLimited)
    async def _limited(_: Request, exc: RateLimited) -> JSONResponse:
        body = error_body(str(exc), "rate_limit_error", "rate_limit_exceeded")
        return JSONResponse(body, status_code=429, headers={"Retry-After": str(exc.retry_after_s)})

    @app.exception_handler(BodyTooSlow)
    async def _body_too_slow(_: Request, exc: BodyTooSlow) -> JSONResponse:
        return too_slow_response(exc.timeout_s)

    @app.exception_handler(NothingMoreToStream)
    async def _stream_over(_: Request, exc: NothingMoreToStream) -> Response:
        # 204 tells an EventSource to stop reconnecting: the job ended before this cursor.
        return Response(status_code=204)

    @app.exception_handler(BodyTooLarge)
    async def _body_too_large(_: Request, exc: BodyTooLarge) -> JSONResponse:
        return too_large_response(exc.limit)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = "not_found" if exc.status_code == 404 else f"http_{exc.status_code}"
        message = str(exc.detail)
        if exc.status_code == 400 and message == _UNPARSABLE:  # FastAPI's words for any body it cannot read
            message = f"{message}: {_UNPARSABLE_HINT}"
        return JSONResponse(
            error_body(message, "invalid_request_error", code),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )
