"""`/v1/files`: OpenAI's Files API, for batch input files and the output files batches write."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Path, Query, UploadFile
from fastapi.responses import Response

from services.gateway.deps import FilesDep, OwnerDep, SettingsDep
from services.gateway.exceptions import FileTooLarge
from shared.batch_api import FileDeleted, FileList, FileObject, FilePurpose

router = APIRouter(prefix="/v1/files", tags=["files"])

FileId = Annotated[str, Path(pattern=r"^file-[0-9a-z-]{1,64}$", description="The id returned by POST /v1/files")]
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Invalid request"},
    404: {"description": "No such file"},
    413: {"description": "The file is larger than THINKSTREAM_BATCH_MAX_BYTES"},
}


@router.post("", response_model=FileObject, responses=_ERRORS)
async def upload_file(
    file: UploadFile,
    purpose: Annotated[Literal["batch"], Form(description="Only batch input files are kept here")],
    files: FilesDep,
    settings: SettingsDep,
    owner: OwnerDep,
) -> FileObject:
    """Upload a batch input file (multipart form: `file`, `purpose=batch`); start it with
    `POST /v1/batches`. Its lines are checked then, not now."""
    content = await file.read(settings.batch_max_bytes + 1)
    if len(content) > settings.batch_max_bytes:
        raise FileTooLarge(settings.batch_max_bytes)
    return await files.create(content, filename=file.filename or "batch.jsonl", purpose=purpose, owner=owner)


@router.get("", response_model=FileList, responses=_ERRORS)
async def list_files(
    files: FilesDep,
    owner: OwnerDep,
    after: Annotated[str | None, Query(description="List the files older than this one (`last_id`)")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000, description="At most this many files")] = 10_000,
    purpose: Annotated[FilePurpose | None, Query(description="Only files of this purpose")] = None,
    order: Annotated[Literal["desc"], Query(description="Newest first (the only order kept)")] = "desc",
) -> FileList:
    """Your files (batch inputs and the output files of your batches), newest first."""
    return await files.listing(owner, after=after, limit=limit, purpose=purpose)


@router.get("/{file_id}", response_model=FileObject, responses=_ERRORS)
async def get_file(file_id: FileId, files: FilesDep, owner: OwnerDep) -> FileObject:
    return await files.get(file_id, owner)


@router.get("/{file_id}/content", response_class=Response, responses=_ERRORS)
async def file_content(file_id: FileId, files: FilesDep, owner: OwnerDep) -> Response:
    """The file's bytes: a batch's output file is JSONL, one result per line."""
    return Response(await files.content(file_id, owner), media_type="application/jsonl")


@router.delete("/{file_id}", response_model=FileDeleted, responses=_ERRORS)
async def delete_file(file_id: FileId, files: FilesDep, owner: OwnerDep) -> FileDeleted:
    return await files.delete(file_id, owner)
