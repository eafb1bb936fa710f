"""Turning errors into JSON responses. Every error body has the same shape:
`{"error": {"message": ..., "type": ..., "code": ...}}` (OpenAI's), with a message that says what
to fix."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.gateway.exceptions import QueueUnavailable
from shared.exceptions import JobNotFound, PromptTooLong


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


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
            for e in exc.errors()
        ]
        body = error_body(_validation_message(exc), "invalid_request_error", "invalid_request", details=details)
        return JSONResponse(body, status_code=422)

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

    @app.exception_handler(QueueUnavailable)
    async def _unavailable(_: Request, exc: QueueUnavailable) -> JSONResponse:
        body = error_body(f"{exc}; try again in a few seconds", "server_error", "queue_unavailable")
        return JSONResponse(body, status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = "not_found" if exc.status_code == 404 else f"http_{exc.status_code}"
        return JSONResponse(
            error_body(str(exc.detail), "invalid_request_error", code),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )
