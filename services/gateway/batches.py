"""Batches (`/v1/batches`): a JSONL file of chat requests becomes one low-priority job per line.

Every line is validated and fitted to the context before anything is queued, so a file with one
bad line runs nothing. Items are ordinary jobs on `keys.BATCH_QUEUE`, which workers serve only
when no interactive job waits. A batch's status and counts are read from its items' jobs when
someone asks; each finished item's result line is collected once into the batch (an atomic
claim, so concurrent readers never write it twice), and when all are in, the output and error
files are written and the batch is final.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from dataclasses import dataclass
from typing import cast

from redis.asyncio import Redis as AsyncRedis

from services.gateway.chat import ChatJob, completion
from services.gateway.exceptions import BatchNotFound, InvalidBatch, ModelNotFound
from services.gateway.files import FileStore
from services.gateway.jobs import JobService
from services.gateway.listing import OwnerIndex
from services.gateway.workers import ModelDirectory
from shared import keys
from shared.batch_api import (
    Batch,
    BatchErrors,
    BatchItem,
    BatchList,
    BatchMarks,
    BatchRecord,
    BatchResponse,
    BatchResultLine,
    BatchResultsPage,
    CreateBatchRequest,
    ErrorBody,
    ErrorDetail,
    InputLine,
    LineError,
    Outcome,
    RequestCounts,
    ResultError,
    parse_batch_input,
)
from shared.exceptions import JobNotFound, PromptTooLong
from shared.schemas import InferenceResult, JobAccepted, JobSpec
from shared.settings import Settings

# KEYS: outcomes hash, results list, batch hash.  ARGV: input line, outcome, result JSON, TTL.
# Returns 1 if this caller collected the item, 0 if someone already had.
COLLECT_SCRIPT = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then
  return 0
end
redis.call('RPUSH', KEYS[2], ARGV[3])
for _, key in ipairs(KEYS) do
  redis.call('EXPIRE', key, ARGV[4])
end
return 1
"""
MARK_FIELDS = tuple(BatchMarks.model_fields)


@dataclass(frozen=True)
class PlannedItem:
    line: InputLine
    model: str
    spec: JobSpec


class BatchService:
    def __init__(
        self, settings: Settings, redis: AsyncRedis, jobs: JobService, files: FileStore, models: ModelDirectory
    ) -> None:
        self._settings = settings
        self._redis = redis
        self._jobs = jobs
        self._files = files
        self._models = models
        self._collect = redis.register_script(COLLECT_SCRIPT)
        self._index = OwnerIndex(redis, "batch", keys.batch_key, settings.batch_ttl_s)

    async def create(self, request: CreateBatchRequest, owner: str | None) -> Batch:
        """Run an uploaded file (OpenAI's flow). A file with any invalid line gives a `failed`
        batch whose `errors` name the lines, as OpenAI does; nothing runs."""
        file = await self._files.get(request.input_file_id, owner)
        if file.purpose != "batch":
            message = f"file {file.id!r} has purpose {file.purpose!r}: upload batch input with purpose 'batch'"
            raise InvalidBatch([LineError(code="invalid_file", message=message, param="input_file_id")])
        planned, errors = await self._plan(await self._files.content(file.id, owner))
        record = self._record_of(file.id, owner, request.metadata)
        if errors:
            record.errors = errors
            marks = BatchMarks(failed_at=int(time.time()))
            await self._store(record, marks)
            return self._view(record, marks, {})
        return await self._start(record, planned)

    async def create_from_jsonl(self, content: bytes, owner: str | None) -> Batch:
        """The one-step form: the input file is the request body. A file with any invalid line
        is refused with `InvalidBatch` and nothing is stored."""
        planned, errors = await self._plan(content)
        if errors:
            raise InvalidBatch(errors)
        file = await self._files.create(content, filename="batch.jsonl", purpose="batch", owner=owner)
        return await self._start(self._record_of(file.id, owner, None), planned)

    async def get(self, batch_id: str, owner: str | None) -> Batch:
        return await self._refresh(await self._record(batch_id, owner))

    async def list(self, owner: str | None, *, after: str | None, limit: int) -> BatchList:
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
        batch = await self._refresh(await self._record(batch_id, owner))
        raw = await self._redis.lrange(keys.batch_results_key(batch_id), after, -1)
        lines = [BatchResultLine.model_validate_json(r) for r in raw]
        return BatchResultsPage(batch=batch, data=lines, next_after=after + len(lines))

    async def cancel(self, batch_id: str, owner: str | None) -> Batch:
        """Queued items never run; running ones stop within a token (their results are errors
        with code `batch_cancelled`); items already answered keep their results."""
        record = await self._record(batch_id, owner)
        if (await self._marks(batch_id)).status in ("failed", "completed", "cancelled", "expired"):
            return await self._refresh(record)
        await self._redis.hsetnx(keys.batch_key(batch_id), "cancelling_at", int(time.time()))
        collected = await self._outcomes(batch_id)
        for item in record.items:  # in queue order, so the worker's next pick is cancelled first
            if item.line not in collected:
                with contextlib.suppress(JobNotFound):  # expired: collected as such
                    await self._jobs.cancel(item.job.id)
        return await self._refresh(record)

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
                model = self._models.resolve(body.model)
                spec = await self._jobs.plan(body.job_request())
            except ModelNotFound as exc:
                errors.append(LineError(code="model_not_found", message=str(exc), line=line.line, param="body.model"))
            except PromptTooLong as exc:
                errors.append(
                    LineError(code="context_length_exceeded", message=str(exc), line=line.line, param="body.messages")
                )
            else:
                planned.append(PlannedItem(line, model, spec))
        errors.sort(key=lambda error: error.line or 0)
        return planned, errors

    def _record_of(self, input_file_id: str, owner: str | None, metadata: dict[str, str] | None) -> BatchRecord:
        return BatchRecord(
            id=f"batch_{uuid.uuid4().hex}",
            owner=owner,
            input_file_id=input_file_id,
            created_at=int(time.time()),
            metadata=metadata,
            model=self._models.name,
        )

    async def _start(self, record: BatchRecord, planned: list[PlannedItem]) -> Batch:
        accepted: list[JobAccepted] = []
        try:
            for item in planned:
                accepted.append(await self._jobs.enqueue(item.spec, keys.BATCH_QUEUE))
        except Exception:
            for job in accepted:  # half a batch that nobody can see must not run
                with contextlib.suppress(Exception):
                    await self._jobs.cancel(job.id)
            raise
        record.items = [
            BatchItem(line=item.line.line, custom_id=item.line.request.custom_id, model=item.model, job=job)
            for item, job in zip(planned, accepted, strict=True)
        ]
        marks = BatchMarks(in_progress_at=int(time.time()))
        await self._store(record, marks)
        return self._view(record, marks, {})

    async def _store(self, record: BatchRecord, marks: BatchMarks) -> None:
        key = keys.batch_key(record.id)
        fields = {name: value for name, value in marks.model_dump().items() if value is not None}
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"record": record.model_dump_json(), **fields})
            pipe.expire(key, self._settings.batch_ttl_s)
            self._index.add(pipe, record.owner, record.id)
            await pipe.execute()

    # -----------------------------------------------------------------------------------------
    # Reading

    async def _record(self, batch_id: str, owner: str | None) -> BatchRecord:
        raw = await self._redis.hget(keys.batch_key(batch_id), "record")
        if raw is None:
            raise BatchNotFound(f"no batch with id {batch_id!r} (it may have expired)")
        record = BatchRecord.model_validate_json(raw)
        if record.owner != owner:  # another key's batch: as if it did not exist
            raise BatchNotFound(f"no batch with id {batch_id!r} (it may have expired)")
        return record

    async def _marks(self, batch_id: str) -> BatchMarks:
        values = await self._redis.hmget(keys.batch_key(batch_id), list(MARK_FIELDS))
        return BatchMarks.model_validate(
            {name: value.decode() for name, value in zip(MARK_FIELDS, values, strict=True) if value is not None}
        )

    async def _outcomes(self, batch_id: str) -> dict[int, Outcome]:
        raw = await self._redis.hgetall(keys.batch_outcomes_key(batch_id))
        return {int(line): cast(Outcome, outcome.decode()) for line, outcome in raw.items()}

    async def _refresh(self, record: BatchRecord) -> Batch:
        """The batch now: collect the results of items that finished since the last look, and
        finish the batch when every item is in."""
        marks = await self._marks(record.id)
        outcomes = await self._outcomes(record.id)
        if marks.status in ("failed", "completed", "cancelled", "expired"):
            return self._view(record, marks, outcomes)
        pending = [item for item in record.items if item.line not in outcomes]
        # `ended` is set with the terminal event (the status may change a moment before it).
        async with self._redis.pipeline(transaction=False) as pipe:
            for item in pending:
                pipe.hmget(keys.job_key(item.job.id), ["status", "ended"])
            states = await pipe.execute()
        for item, (status, ended) in zip(pending, states, strict=True):
            if status is not None and ended is None:
                continue
            line = await self._result(record, item, marks)
            await self._collect(  # a no-op if a concurrent reader collected it first
                keys=[keys.batch_outcomes_key(record.id), keys.batch_results_key(record.id), keys.batch_key(record.id)],
                args=[item.line, line.outcome, line.model_dump_json(), self._settings.batch_ttl_s],
            )
        outcomes = await self._outcomes(record.id)
        if len(outcomes) == len(record.items):
            marks = await self._finish(record)
        return self._view(record, marks, outcomes)

    async def _result(self, record: BatchRecord, item: BatchItem, marks: BatchMarks) -> BatchResultLine:
        """The result line of a finished item: the `chat.completion` it would have got on its
        own, a 500 response if it failed, or an error if it was cancelled or has expired."""
        line_id, request_id = f"batch_req_{item.job.id}", item.job.id
        try:
            view = await self._jobs.get(item.job.id)
        except JobNotFound:
            message = "the request's result expired before the batch collected it (THINKSTREAM_JOB_TTL_S)"
            return BatchResultLine(
                id=line_id, custom_id=item.custom_id, error=ResultError(code="batch_expired", message=message)
            )
        if view.error is None and view.finish_reason not in (None, "canceled"):  # it ended with `done`
            result = InferenceResult(
                finish_reason=view.finish_reason or "stop",
                reasoning_end=view.reasoning_end,
                usage=view.usage,
                timings=view.timings,
            )
            job = ChatJob(accepted=item.job, model=item.model, created=record.created_at)
            body = completion(job, view.reasoning, view.answer, result, view.checks)
            response = BatchResponse(status_code=200, request_id=request_id, body=body)
            return BatchResultLine(id=line_id, custom_id=item.custom_id, response=response)
        if view.error is not None:
            detail = ErrorDetail(message=view.error or "the request failed", type="server_error", code="job_failed")
            response = BatchResponse(status_code=500, request_id=request_id, body=ErrorBody(error=detail))
            return BatchResultLine(id=line_id, custom_id=item.custom_id, response=response)
        if marks.cancelling_at is not None:
            error = ResultError(code="batch_cancelled", message="the batch was cancelled before this request finished")
        else:
            error = ResultError(code="request_cancelled", message=f"job {item.job.id} was cancelled")
        return BatchResultLine(id=line_id, custom_id=item.custom_id, error=error)

    async def _finish(self, record: BatchRecord) -> BatchMarks:
        """Every item is in: write the output file (answers) and the error file (the rest), in
        input order, then mark the batch completed, or cancelled if it was being cancelled."""
        key = keys.batch_key(record.id)
        await self._redis.hsetnx(key, "finalizing_at", int(time.time()))
        order = {item.custom_id: item.line for item in record.items}
        raw = await self._redis.lrange(keys.batch_results_key(record.id), 0, -1)
        lines = sorted((BatchResultLine.model_validate_json(r) for r in raw), key=lambda r: order[r.custom_id])
        answered = [line for line in lines if line.outcome == "completed"]
        others = [line for line in lines if line.outcome != "completed"]
        short_id = record.id.removeprefix("batch_")
        for name, chosen, field in (("output", answered, "output_file_id"), ("errors", others, "error_file_id")):
            if chosen:
                file = await self._files.create(
                    "".join(f"{line.model_dump_json()}\n" for line in chosen).encode(),
                    file_id=f"file-{short_id}-{name}",  # the same id for concurrent finishers
                    filename=f"{record.id}_{name}.jsonl",
                    purpose="batch_output",
                    owner=record.owner,
                )
                await self._redis.hsetnx(key, field, file.id)
        marks = await self._marks(record.id)
        await self._redis.hsetnx(key, "cancelled_at" if marks.cancelling_at else "completed_at", int(time.time()))
        ttl_s = self._settings.batch_ttl_s
        async with self._redis.pipeline(transaction=False) as pipe:
            for batch_key in (key, keys.batch_outcomes_key(record.id), keys.batch_results_key(record.id)):
                pipe.expire(batch_key, ttl_s)
            self._index.add(pipe, record.owner, record.id)  # listed as long as it lives
            await pipe.execute()
        return await self._marks(record.id)

    def _view(self, record: BatchRecord, marks: BatchMarks, outcomes: dict[int, Outcome]) -> Batch:
        done = list(outcomes.values())
        counts = RequestCounts(
            total=len(record.items),
            completed=done.count("completed"),
            failed=done.count("failed") + done.count("expired"),
        )
        return Batch(
            id=record.id,
            endpoint=record.endpoint,
            errors=BatchErrors(data=record.errors) if record.errors else None,
            input_file_id=record.input_file_id,
            completion_window=record.completion_window,
            status=marks.status,
            created_at=record.created_at,
            request_counts=counts,
            metadata=record.metadata,
            model=record.model,
            **marks.model_dump(),
        )
