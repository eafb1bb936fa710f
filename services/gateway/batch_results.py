"""A batch's results as clients read them: result lines rendered from what the batch collected
(`services.store.batches`), and the output and error files, which are those lines in input order.

The batch keeps each finished item once, as the job its client would have seen; the
`chat.completion` of a line is built from it here, when it is read.
"""

from __future__ import annotations

import time

from redis.asyncio import Redis as AsyncRedis

from services.gateway.chat import ChatJob, completion
from shared import keys
from shared.batch_api import (
    BatchItem,
    BatchRecord,
    BatchResponse,
    BatchResultLine,
    ErrorBody,
    ErrorDetail,
    FileObject,
    ItemResult,
    ResultError,
    batch_of_output_file,
    output_file_ids,
)
from shared.eventlog import stamp
from shared.schemas import DoneEvent, InferenceResult


def render(record: BatchRecord, item: BatchItem, result: ItemResult, cancelling: bool) -> BatchResultLine:
    """The result line of a finished item: the `chat.completion` it would have got on its own, a
    500 response if it failed, or an error if it was cancelled."""
    view = result.view
    line_id, request_id = f"batch_req_{item.job.id}", item.job.id
    if result.outcome == "completed":
        inference = InferenceResult(
            finish_reason=view.finish_reason or "stop",
            reasoning_end=view.reasoning_end,
            usage=view.usage,
            timings=view.timings,
        )
        done = stamp(DoneEvent, result=inference, rounds=len(view.revisions) + 1, passed=view.passed)
        job = ChatJob(accepted=item.job, model=item.model, created=record.created_at)
        body = completion(job, view.reasoning, view.answer, inference, view.checks, done=done, vote=view.vote)
        response = BatchResponse(status_code=200, request_id=request_id, body=body)
        return BatchResultLine(id=line_id, custom_id=item.custom_id, response=response)
    if result.outcome == "failed":
        detail = ErrorDetail(message=view.error or "the request failed", type="server_error", code="job_failed")
        response = BatchResponse(status_code=500, request_id=request_id, body=ErrorBody(error=detail))
        return BatchResultLine(id=line_id, custom_id=item.custom_id, response=response)
    if cancelling:
        error = ResultError(code="batch_cancelled", message="the batch was cancelled before this request finished")
    else:
        error = ResultError(code="request_cancelled", message=f"job {item.job.id} was cancelled")
    return BatchResultLine(id=line_id, custom_id=item.custom_id, error=error)


class BatchResults:
    def __init__(self, redis: AsyncRedis) -> None:
        self._redis = redis

    async def record(self, batch_id: str) -> BatchRecord | None:
        raw = await self._redis.hget(keys.batch_key(batch_id), "record")
        return BatchRecord.model_validate_json(raw) if raw is not None else None

    async def lines(self, record: BatchRecord, after: int = 0) -> list[BatchResultLine]:
        """The result lines collected after the first `after`, in the order they finished."""
        raw = await self._redis.lrange(keys.batch_results_key(record.id), after, -1)
        cancelling = await self._redis.hexists(keys.batch_key(record.id), "cancelling_at")
        items = {item.line: item for item in record.items}
        results = [ItemResult.model_validate_json(r) for r in raw]
        return [render(record, items[r.line], r, bool(cancelling)) for r in results if r.line in items]

    async def output_file(self, file_id: str, owner: str | None) -> tuple[FileObject, bytes] | None:
        """A batch's output or error file, if `file_id` names one that `owner` may read: the
        answered lines (output) or the others (errors), in input order."""
        batch_id = batch_of_output_file(file_id)
        if batch_id is None:
            return None
        record = await self.record(batch_id)
        if record is None or record.owner != owner:
            return None
        output_id, _ = output_file_ids(batch_id)
        named = await self._redis.hmget(keys.batch_key(batch_id), ["output_file_id", "error_file_id", "finalizing_at"])
        if file_id.encode() not in named[:2]:
            return None
        order = {item.line: index for index, item in enumerate(record.items)}
        raw = await self._redis.lrange(keys.batch_results_key(batch_id), 0, -1)
        results = sorted((ItemResult.model_validate_json(r) for r in raw), key=lambda r: order.get(r.line, 0))
        wanted = [r for r in results if (r.outcome == "completed") == (file_id == output_id)]
        cancelling = await self._redis.hexists(keys.batch_key(batch_id), "cancelling_at")
        items = {item.line: item for item in record.items}
        content = "".join(
            f"{render(record, items[r.line], r, bool(cancelling)).model_dump_json()}\n"
            for r in wanted
            if r.line in items
        ).encode()
        created = int(named[2] or time.time())
        kind = "output" if file_id == output_id else "errors"
        file = FileObject(
            id=file_id,
            bytes=len(content),
            created_at=created,
            filename=f"{batch_id}_{kind}.jsonl",
            purpose="batch_output",
        )
        return file, content
