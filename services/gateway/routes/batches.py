"""`/v1/batches`: OpenAI's Batch API for chat completions, plus a one-step form and live results."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from services.gateway.deps import BatchesDep, OwnerDep, SettingsDep
from services.gateway.exceptions import FileTooLarge
from shared.batch_api import NDJSON_MEDIA_TYPES, Batch, BatchList, BatchResultsPage, CreateBatchRequest

router = APIRouter(prefix="/v1/batches", tags=["batches"])

BatchId = Annotated[str, Path(pattern=r"^batch_[0-9a-f]{32}$", description="The id returned by POST /v1/batches")]
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Invalid request, or (one-step form) invalid lines, listed in `error.errors`"},
    404: {"description": "No such batch or input file"},
    413: {"description": "The input file is larger than THINKSTREAM_BATCH_MAX_BYTES"},
}
_BODIES = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": CreateBatchRequest.model_json_schema()},
            **{media: {"schema": {"type": "string", "format": "binary"}} for media in NDJSON_MEDIA_TYPES},
        },
    }
}


@router.post("", response_model=Batch, responses=_ERRORS, openapi_extra=_BODIES)
async def create_batch(request: Request, batches: BatchesDep, settings: SettingsDep, owner: OwnerDep) -> Batch:
    """Start a batch. JSON `{"input_file_id", "endpoint": "/v1/chat/completions",
    "completion_window": "24h"}` runs a file uploaded to `/v1/files` (OpenAI's flow; invalid lines
    give a `failed` batch with `errors`). A JSONL body (`application/x-ndjson`) is the file itself
    (invalid lines give 400 listing them). Either way nothing runs unless every line is valid."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media in NDJSON_MEDIA_TYPES:
        return await batches.create_from_jsonl(await _read_body(request, settings.batch_max_bytes), owner)
    if media != "application/json":
        accepted = ", ".join(("application/json", *NDJSON_MEDIA_TYPES))
        raise HTTPException(415, f"send the batch as one of {accepted}, not {media or 'no content type'}")
    try:
        body = CreateBatchRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from exc
    return await batches.create(body, owner)


@router.get("", response_model=BatchList, responses=_ERRORS)
async def list_batches(
    batches: BatchesDep,
    owner: OwnerDep,
    after: Annotated[str | None, Query(description="List the batches older than this one (`last_id`)")] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="At most this many batches")] = 20,
) -> BatchList:
    """Your batches, newest first, each with its current status and counts."""
    return await batches.listing(owner, after=after, limit=limit)


@router.get("/{batch_id}", response_model=Batch, responses=_ERRORS)
async def get_batch(batch_id: BatchId, batches: BatchesDep, owner: OwnerDep) -> Batch:
    """The batch's status, `request_counts` and, once final, `output_file_id` and `error_file_id`."""
    return await batches.get(batch_id, owner)


@router.post("/{batch_id}/cancel", response_model=Batch, responses=_ERRORS)
async def cancel_batch(batch_id: BatchId, batches: BatchesDep, owner: OwnerDep) -> Batch:
    """Stop a batch: queued requests never run, running ones stop at their next flush of text;
    answers already written stay. The batch is `cancelling` until every request has stopped, then `cancelled`."""
    return await batches.cancel(batch_id, owner)


@router.get("/{batch_id}/results", response_model=BatchResultsPage, responses=_ERRORS)
async def batch_results(
    batch_id: BatchId,
    batches: BatchesDep,
    owner: OwnerDep,
    after: Annotated[int, Query(ge=0, description="Skip this many results (the `next_after` of the last call)")] = 0,
) -> BatchResultsPage:
    """The batch and its result lines so far, in the order they finished (thinkstream's own: a
    client can write results as they come instead of waiting for the output file)."""
    return await batches.results(batch_id, owner, after)


async def _read_body(request: Request, limit_bytes: int) -> bytes:
    """The body, refused with 413 as soon as it passes the limit (never read whole first)."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit_bytes:
        raise FileTooLarge(limit_bytes)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit_bytes:
            raise FileTooLarge(limit_bytes)
        chunks.append(chunk)
    return b"".join(chunks)
