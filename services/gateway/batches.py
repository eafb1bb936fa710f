"""Batches (`/v1/batches`): a JSONL file of chat requests becomes one low-priority job per line.

Every line is validated and fitted to the context before anything is queued, so a file with one
bad line runs nothing. Items are ordinary jobs on `keys.BATCH_QUEUE`, which workers serve only
when no interactive job waits. The batch record is owned by `services.store.batches`: each item's
end collects its result into the batch, and the last one finishes it, so a batch completes with
nobody polling. Reading a batch only reads.
"""

from __future__ import annotations

import contextlib
import functools
import time
import uuid
from dataclasses import dataclass

import anyio
from redis.asyncio import Redis as AsyncRedis

from services.gateway.batch_results import BatchResults
from services.gateway.directory import Route
from services.gateway.exceptions import BatchNotFound, InvalidBatch, ModelNotFound, ModelUnavailable
from services.gateway.files import FileStore
from services.gateway.jobs import JobService, accepted
from services.gateway.listing import OwnerIndex
from services.store.batches import BatchLedger
from services.store.records import BatchLink, NewJob
from shared import keys
from shared.batch_api import (
    Batch,
    BatchErrors,
    BatchItem,
    BatchList,
    BatchMarks,
    BatchRecord,
    BatchResultsPage,
    CreateBatchRequest,
    InputLine,
    LineError,
    RequestCounts,
    parse_batch_input,
)
from shared.exceptions import JobNotFound, PromptTooLong
from shared.schemas import JobSpec
from shared.settings import Settings

MARK_FIELDS = tuple(BatchMarks.model_fields)
COUNT_FIELDS = ("n_completed", "n_failed", "n_expired")


@dataclass(frozen=True)
class PlannedItem:
    line: InputLine
    route: Route
    spec: JobSpec


class BatchService:
    def __init__(
        self,
        settings: Settings,
        redis: AsyncRedis,
        jobs: JobService,
        files: FileStore,
        results: BatchResults,
    ) -> None:
        self._settings = settings
        self._redis = redis
        self._jobs = jobs
        self._files = files
        self._results = results
        self._ledger = BatchLedger(jobs.store.redis, settings)
        self._index = OwnerIndex(redis, "batch", keys.batch_key, settings.batch_ttl_s)

    async def create(self, request: CreateBatchRequest, owner: str | None) -> Batch:
        """Run an uploaded file (OpenAI's flow). A file with any invalid line gives a `failed`
        batch whose `errors` name the lines, as OpenAI does; nothing runs."""
        file = await self._files.get(request.input_file_id, owner)
        if file.purpose != "batch":
            message = f"file {file.id!r} has purpose {file.purpose!r}: upload batch input with purpose 'batch'"
            raise InvalidBatch([LineError(code="invalid_file", message=message, param="input_file_id")])
        planned, errors = await self._plan(await self._files.content(file.id, owner))
        record = self._record_of(file.id, owner, request.metadata, planned)
        if errors:
            record.errors = errors
            marks = BatchMarks(failed_at=int(time.time()))
            await anyio.to_thread.run_sync(self._ledger.create, record, marks)
            return self._view(record, marks, {})
        return await self._start(record, planned)

    async def create_from_jsonl(self, content: bytes, owner: str | None) -> Batch:
        """The one-step form: the input file is the request body. A file with any invalid line
        is refused with `InvalidBatch` and nothing is stored."""
        planned, errors = await self._plan(content)
        if errors:
            raise InvalidBatch(errors)
        file = await self._files.create(content, filename="batch.jsonl", purpose="batch", owner=owner)
        return await self._start(self._record_of(file.id, owner, None, planned), planned)

    async def get(self, batch_id: str, owner: str | None) -> Batch:
        record = await self._record(batch_id, owner)
        marks, counts = await self._state(batch_id)
        return self._view(record, marks, counts)

    async def listing(self, owner: str | None, *, after: str | None, limit: int) -> BatchList:
        """The owner's batches, newest first, each as `get` shows it."""
        page = await self._index.page(owner, after=after, limit=limit)
        batches = []
        for batch_id in page.ids:
            with contextlib.suppress(BatchNotFound):  # expired since the page was read
                batches.append(await self.get(batch_id, owner))
        return BatchList(
            data=batches,
            first_id=batches[0].id if batches else None,
            last_id=batches[-1].id if batches else None,
            has_more=page.has_more,
        )

    async def results(self, batch_id: str, owner: str | None, after: int = 0) -> BatchResultsPage:
        """The batch, and the result lines collected after the first `after` (in the order
        they finished): a client follows a batch by passing `next_after` back."""
        record = await self._record(batch_id, owner)
        marks, counts = await self._state(batch_id)
        lines = await self._results.lines(record, after)
        return BatchResultsPage(batch=self._view(record, marks, counts), data=lines, next_after=after + len(lines))

    async def cancel(self, batch_id: str, owner: str | None) -> Batch:
        """Queued items never run; running ones stop at their next flush of text (their results
        are errors with code `batch_cancelled`); items already answered keep their results."""
        record = await self._record(batch_id, owner)
        marks, _ = await self._state(batch_id)
        if marks.status in ("failed", "completed", "cancelled", "expired"):
            return await self.get(batch_id, owner)
        await anyio.to_thread.run_sync(self._ledger.mark_cancelling, batch_id)
        collected = {int(line) for line in await self._redis.hkeys(keys.batch_outcomes_key(batch_id))}
        jobs = self._jobs.for_owner(owner)
        for item in record.items:  # in queue order, so the worker's next pick is cancelled first
            if item.line not in collected:
                with contextlib.suppress(JobNotFound):
                    await jobs.cancel(item.job.id)
        return await self.get(batch_id, owner)

    # -----------------------------------------------------------------------------------------
    # Creating

    async def _plan(self, content: bytes) -> tuple[list[PlannedItem], list[LineError]]:
        """Validate every line and fit it to the context; report every problem by line."""
        lines, errors = parse_batch_input(content, max_lines=self._settings.batch_max_lines)
        if any(error.line is None for error in errors):
            return [], errors  # the file as a whole is wrong: no point fitting its lines
        planned = []
        for line in lines:
            body = line.request.body
            try:
                route = await self._jobs.models.resolve(body.model, body.lora)
                spec = await self._jobs.plan(body.job_request(), route)
            except (ModelNotFound, ModelUnavailable) as exc:
                code = "model_not_found" if isinstance(exc, ModelNotFound) else "model_unavailable"
                errors.append(LineError(code=code, message=str(exc), line=line.line, param="body.model"))
            except PromptTooLong as exc:
                errors.append(
                    LineError(code="context_length_exceeded", message=str(exc), line=line.line, param="body.messages")
                )
            else:
                planned.append(PlannedItem(line, route, spec))
        errors.sort(key=lambda error: error.line or 0)
        return planned, errors

    def _record_of(
        self, input_file_id: str, owner: str | None, metadata: dict[str, str] | None, planned: list[PlannedItem]
    ) -> BatchRecord:
        """The batch's `model` is its first item's (items may name different models; each runs on
        its own model's workers)."""
        return BatchRecord(
            id=f"batch_{uuid.uuid4().hex}",
            owner=owner,
            input_file_id=input_file_id,
            created_at=int(time.time()),
            metadata=metadata,
            model=planned[0].route.requested if planned else self._jobs.models.default,
        )

    async def _start(self, record: BatchRecord, planned: list[PlannedItem]) -> Batch:
        """Store the batch, then queue its items (all or none: a batch that cannot be queued
        whole is not kept)."""
        record.items = [
            BatchItem(
                line=item.line.line,
                custom_id=item.line.request.custom_id,
                model=item.route.requested,
                job=accepted(item.spec, 0),
            )
            for item in planned
        ]
        marks = BatchMarks(in_progress_at=int(time.time()))
        await anyio.to_thread.run_sync(self._ledger.create, record, marks)
        jobs = [NewJob(item.spec, batch=BatchLink(record.id, item.line.line), pool=item.route.pool) for item in planned]
        try:
            await self._jobs.for_owner(record.owner).submit_batch(jobs)
        except Exception:
            await anyio.to_thread.run_sync(functools.partial(self._ledger.discard, record))
            raise
        return self._view(record, marks, {})

    # -----------------------------------------------------------------------------------------
    # Reading

    async def _record(self, batch_id: str, owner: str | None) -> BatchRecord:
        record = await self._results.record(batch_id)
        if record is None or record.owner != owner:  # another key's batch: as if it did not exist
            raise BatchNotFound(f"no batch with id {batch_id!r} (it may have expired)")
        return record

    async def _state(self, batch_id: str) -> tuple[BatchMarks, dict[str, int]]:
        values = await self._redis.hmget(keys.batch_key(batch_id), [*MARK_FIELDS, *COUNT_FIELDS])
        marks = {name: value.decode() for name, value in zip(MARK_FIELDS, values, strict=False) if value is not None}
        counts = {name: int(value or 0) for name, value in zip(COUNT_FIELDS, values[len(MARK_FIELDS) :], strict=True)}
        return BatchMarks.model_validate(marks), counts

    def _view(self, record: BatchRecord, marks: BatchMarks, counts: dict[str, int]) -> Batch:
        request_counts = RequestCounts(
            total=len(record.items),
            completed=counts.get("n_completed", 0),
            failed=counts.get("n_failed", 0) + counts.get("n_expired", 0),
        )
        return Batch(
            id=record.id,
            endpoint=record.endpoint,
            errors=BatchErrors(data=record.errors) if record.errors else None,
            input_file_id=record.input_file_id,
            completion_window=record.completion_window,
            status=marks.status,
            created_at=record.created_at,
            request_counts=request_counts,
            metadata=record.metadata,
            model=record.model,
            **marks.model_dump(),
        )
