"""Files (`/v1/files`): batch input files clients upload and the output files batches write.

A file lives in one Redis hash (its description and its bytes) for `batch_ttl_s`, and only the
API key that created it can see it.
"""

from __future__ import annotations

import time
import uuid

from redis.asyncio import Redis as AsyncRedis

from services.gateway.exceptions import FileNotFound, FileTooLarge
from services.gateway.listing import OwnerIndex
from shared import keys
from shared.batch_api import FileDeleted, FileList, FileObject, FilePurpose, FileRecord
from shared.settings import Settings


class FileStore:
    def __init__(self, settings: Settings, redis: AsyncRedis) -> None:
        self._settings = settings
        self._redis = redis
        self._index = OwnerIndex(redis, "file", keys.file_key, settings.batch_ttl_s)

    async def create(
        self,
        content: bytes,
        *,
        filename: str,
        purpose: FilePurpose,
        owner: str | None,
        file_id: str | None = None,
    ) -> FileObject:
        """Store a file. Batch input past `batch_max_bytes` raises `FileTooLarge`."""
        if purpose == "batch" and len(content) > self._settings.batch_max_bytes:
            raise FileTooLarge(self._settings.batch_max_bytes)
        now = int(time.time())
        ttl_s = self._settings.batch_ttl_s
        file = FileObject(
            id=file_id or f"file-{uuid.uuid4().hex}",
            bytes=len(content),
            created_at=now,
            filename=filename,
            purpose=purpose,
            expires_at=now + ttl_s,
        )
        record = FileRecord(file=file, owner=owner)
        key = keys.file_key(file.id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"record": record.model_dump_json(), "content": content})
            pipe.expire(key, ttl_s)
            self._index.add(pipe, owner, file.id)
            await pipe.execute()
        return file

    async def list(self, owner: str | None, *, after: str | None, limit: int, purpose: str | None) -> FileList:
        """The owner's files, newest first; `purpose` keeps only files of that purpose."""
        files: list[FileObject] = []
        cursor, has_more = after, True
        while has_more and len(files) < limit:
            page = await self._index.page(owner, after=cursor, limit=limit - len(files))
            records = await self._records(page.ids)
            files.extend(r.file for r in records if purpose is None or r.file.purpose == purpose)
            cursor, has_more = (page.ids[-1] if page.ids else cursor), page.has_more
        return FileList(
            data=files,
            first_id=files[0].id if files else None,
            last_id=files[-1].id if files else None,
            has_more=has_more,
        )

    async def get(self, file_id: str, owner: str | None) -> FileObject:
        return (await self._record(file_id, owner)).file

    async def content(self, file_id: str, owner: str | None) -> bytes:
        await self._record(file_id, owner)
        content = await self._redis.hget(keys.file_key(file_id), "content")
        if content is None:
            raise FileNotFound(_missing(file_id))
        return bytes(content)

    async def delete(self, file_id: str, owner: str | None) -> FileDeleted:
        await self._record(file_id, owner)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(keys.file_key(file_id))
            self._index.remove(pipe, owner, file_id)
            deleted, *_ = await pipe.execute()
        return FileDeleted(id=file_id, deleted=bool(deleted))

    async def _record(self, file_id: str, owner: str | None) -> FileRecord:
        raw = await self._redis.hget(keys.file_key(file_id), "record")
        if raw is None:
            raise FileNotFound(_missing(file_id))
        record = FileRecord.model_validate_json(raw)
        if record.owner != owner:  # another key's file: as if it did not exist
            raise FileNotFound(_missing(file_id))
        return record

    async def _records(self, file_ids: list[str]) -> list[FileRecord]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for file_id in file_ids:
                pipe.hget(keys.file_key(file_id), "record")
            raw = await pipe.execute()
        return [FileRecord.model_validate_json(r) for r in raw if r is not None]


def _missing(file_id: str) -> str:
    return f"no file with id {file_id!r} (it may have expired)"
