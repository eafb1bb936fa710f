"""Files (`/v1/files`): batch input files clients upload, and the output files of batches.

An uploaded file's description lives in Redis and its bytes on disk, in `files_dir` (a 0700
folder; each file 0600), so a few large uploads cannot fill Redis, which holds every job's state.
Gateways that run side by side must share that folder (a shared volume); docs/deploy.md says how.
Files expire after `batch_ttl_s` like their descriptions; expired bytes are removed when the next
file is stored. A batch's output and error files are not stored at all: they are its results,
rendered when read (`BatchResults`). Only the API key that created a file can see it.
"""

from __future__ import annotations

import functools
import os
import time
import uuid
from pathlib import Path

import anyio
from redis.asyncio import Redis as AsyncRedis

from services.gateway.batch_results import BatchResults
from services.gateway.exceptions import FileNotFound, FileTooLarge
from services.gateway.listing import OwnerIndex
from services.gateway.memory import MemoryBudget
from services.runtime.private import private_dir, write_private_bytes
from services.store.batches import BatchLedger
from services.store.usage import StorageUsage
from shared import keys
from shared.batch_api import FileDeleted, FileList, FileObject, FilePurpose, FileRecord, batch_of_output_file
from shared.settings import Settings


class FileStore:
    def __init__(
        self,
        settings: Settings,
        redis: AsyncRedis,
        results: BatchResults,
        ledger: BatchLedger,
        usage: StorageUsage,
        budget: MemoryBudget,
    ) -> None:
        self._settings = settings
        self._redis = redis
        self._results = results
        self._ledger = ledger
        self._usage = usage
        self._budget = budget
        self._dir = settings.uploads_dir
        self._index = OwnerIndex(redis, "file", _record_key, settings.batch_ttl_s)

    async def create(self, content: bytes, *, filename: str, purpose: FilePurpose, owner: str | None) -> FileObject:
        """Store an uploaded file. Past `batch_max_bytes`: `FileTooLarge`; past the owner's
        storage quota: `StorageQuotaExceeded`; Redis past its budget: `StorageFull`."""
        if len(content) > self._settings.batch_max_bytes:
            raise FileTooLarge(self._settings.batch_max_bytes)
        await self._budget.check()
        now = int(time.time())
        ttl_s = self._settings.batch_ttl_s
        file = FileObject(
            id=f"file-{uuid.uuid4().hex}",
            bytes=len(content),
            created_at=now,
            filename=filename,
            purpose=purpose,
            expires_at=now + ttl_s,
        )
        reserve = functools.partial(self._usage.reserve, owner, "file", file.id, len(content), ttl_s)
        await anyio.to_thread.run_sync(reserve)
        try:
            await anyio.to_thread.run_sync(self._write, file.id, content)
        except Exception:
            await anyio.to_thread.run_sync(self._usage.release, owner, "file", file.id)
            raise
        record = FileRecord(file=file, owner=owner)
        key = keys.file_key(file.id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"record": record.model_dump_json()})
            pipe.expire(key, ttl_s)
            self._index.add(pipe, owner, file.id)
            await pipe.execute()
        return file

    async def listing(self, owner: str | None, *, after: str | None, limit: int, purpose: str | None) -> FileList:
        """The owner's files, newest first; `purpose` keeps only files of that purpose."""
        files: list[FileObject] = []
        cursor, has_more = after, True
        while has_more and len(files) < limit:
            page = await self._index.page(owner, after=cursor, limit=limit - len(files))
            for file_id in page.ids:
                try:
                    file = await self.get(file_id, owner)
                except FileNotFound:
                    continue
                if purpose is None or file.purpose == purpose:
                    files.append(file)
            cursor, has_more = (page.ids[-1] if page.ids else cursor), page.has_more
        return FileList(
            data=files,
            first_id=files[0].id if files else None,
            last_id=files[-1].id if files else None,
            has_more=has_more,
        )

    async def get(self, file_id: str, owner: str | None) -> FileObject:
        if batch_of_output_file(file_id) is not None:
            found = await self._results.output_file(file_id, owner)
            if found is None:
                raise FileNotFound(_missing(file_id))
            return found[0]
        return (await self._record(file_id, owner)).file

    async def content(self, file_id: str, owner: str | None) -> bytes:
        if batch_of_output_file(file_id) is not None:
            found = await self._results.output_file(file_id, owner)
            if found is None:
                raise FileNotFound(_missing(file_id))
            return found[1]
        await self._record(file_id, owner)
        try:
            return await anyio.to_thread.run_sync(self._path(file_id).read_bytes)
        except FileNotFoundError:
            raise FileNotFound(
                f"the bytes of file {file_id!r} are not in this gateway's THINKSTREAM_FILES_DIR ({self._dir}): "
                "gateways that run side by side must share that folder"
            ) from None

    async def delete(self, file_id: str, owner: str | None) -> FileDeleted:
        if (batch_id := batch_of_output_file(file_id)) is not None:
            await self.get(file_id, owner)
            deleted = await anyio.to_thread.run_sync(self._ledger.forget_output_file, batch_id, file_id, owner)
            return FileDeleted(id=file_id, deleted=deleted)  # the batch's own results stay
        await self._record(file_id, owner)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(keys.file_key(file_id))
            self._index.remove(pipe, owner, file_id)
            deleted, *_ = await pipe.execute()
        await anyio.to_thread.run_sync(lambda: self._path(file_id).unlink(missing_ok=True))
        await anyio.to_thread.run_sync(self._usage.release, owner, "file", file_id)
        return FileDeleted(id=file_id, deleted=bool(deleted))

    async def _record(self, file_id: str, owner: str | None) -> FileRecord:
        raw = await self._redis.hget(keys.file_key(file_id), "record")
        if raw is None:
            raise FileNotFound(_missing(file_id))
        record = FileRecord.model_validate_json(raw)
        if record.owner != owner:  # another key's file: as if it did not exist
            raise FileNotFound(_missing(file_id))
        return record

    def _path(self, file_id: str) -> Path:
        return self._dir / file_id

    def _write(self, file_id: str, content: bytes) -> None:
        private_dir(self._dir)
        write_private_bytes(self._path(file_id), content)
        self._prune()

    def _prune(self) -> None:
        """Remove the bytes of files whose description has expired (older than the TTL)."""
        horizon = time.time() - self._settings.batch_ttl_s - 60
        with os.scandir(self._dir) as entries:
            for entry in entries:
                if entry.is_file() and entry.name.startswith("file-") and entry.stat().st_mtime < horizon:
                    Path(entry.path).unlink(missing_ok=True)


def _record_key(file_id: str) -> str:
    """The Redis record that says whether a file still exists: its own, or its batch's."""
    batch_id = batch_of_output_file(file_id)
    return keys.batch_key(batch_id) if batch_id is not None else keys.file_key(file_id)


def _missing(file_id: str) -> str:
    return f"no file with id {file_id!r} (it may have expired)"
