"""The batch record: every write to a batch's hash, its outcomes and its results.

A batch is stored before its items are queued, so an item that finishes at once still finds it.
Each item's end collects it (`JobStore.end` calls `collect`), whoever ended it, and the item
that completes the set finishes the batch in the same atomic step: a batch completes with nobody
polling, and its results are kept for the batch's TTL, whatever happens to the jobs.

Output and error files are not copies: they are the batch's collected results, rendered when
read, so a result is stored once.
"""

from __future__ import annotations

import time

from redis import Redis

from services.store.usage import StorageUsage
from shared import keys
from shared.batch_api import BatchMarks, BatchRecord, ItemResult, output_file_ids
from shared.schemas import JobView
from shared.settings import Settings

# KEYS: batch hash, outcomes hash, results list, owner's file index.
# ARGV: input line, outcome, result JSON, TTL, now (whole seconds), output file id, error file id,
#   now (the index's score).
# Collects one item once (a second call for the same line does nothing); the item that completes
# the set marks the batch finished (completed, or cancelled if it was being cancelled) and names
# its output and error files. Returns {collected (1/0), finished (1/0)}.
COLLECT_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, 0} end
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2]) == 0 then return {0, 0} end
redis.call('RPUSH', KEYS[3], ARGV[3])
redis.call('HINCRBY', KEYS[1], 'n_' .. ARGV[2], 1)
local done = redis.call('HINCRBY', KEYS[1], 'n_collected', 1)
local finished = 0
if done >= tonumber(redis.call('HGET', KEYS[1], 'total') or '0') then
  finished = 1
  redis.call('HSETNX', KEYS[1], 'finalizing_at', ARGV[5])
  local answered = tonumber(redis.call('HGET', KEYS[1], 'n_completed') or '0')
  if answered > 0 then
    redis.call('HSETNX', KEYS[1], 'output_file_id', ARGV[6])
    redis.call('ZADD', KEYS[4], 'NX', ARGV[8], ARGV[6])
  end
  if done > answered then
    redis.call('HSETNX', KEYS[1], 'error_file_id', ARGV[7])
    redis.call('ZADD', KEYS[4], 'NX', ARGV[8], ARGV[7])
  end
  if redis.call('HEXISTS', KEYS[1], 'cancelling_at') == 1 then
    redis.call('HSETNX', KEYS[1], 'cancelled_at', ARGV[5])
  else
    redis.call('HSETNX', KEYS[1], 'completed_at', ARGV[5])
  end
end
for i = 1, 4 do redis.call('EXPIRE', KEYS[i], ARGV[4]) end
return {1, finished}
"""


def outcome_of(view: JobView) -> str:
    if view.error is not None:
        return "failed"
    if view.finish_reason in (None, "canceled"):
        return "cancelled"
    return "completed"


class BatchLedger:
    def __init__(self, redis: Redis, settings: Settings) -> None:
        self._redis = redis
        self._settings = settings
        self._collect = redis.register_script(COLLECT_SCRIPT)
        self._usage = StorageUsage(redis, settings)

    def create(self, record: BatchRecord, marks: BatchMarks) -> None:
        """Store a batch (before its items are queued) and index it under its owner; raises
        `StorageQuotaExceeded` when the owner keeps as many batches or bytes as it may."""
        ttl_s = self._settings.batch_ttl_s
        self._usage.reserve(record.owner, "batch", record.id, len(record.model_dump_json()), ttl_s)
        key = keys.batch_key(record.id)
        fields = {name: value for name, value in marks.model_dump().items() if value is not None}
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                key,
                mapping={
                    "record": record.model_dump_json(),
                    "owner": record.owner or "",
                    "total": len(record.items),
                    **fields,
                },
            )
            pipe.expire(key, ttl_s)
            pipe.zadd(keys.owner_index_key("batch", record.owner), {record.id: time.time()}, nx=True)
            pipe.expire(keys.owner_index_key("batch", record.owner), ttl_s)
            pipe.execute()

    def discard(self, record: BatchRecord) -> None:
        """A batch whose items could not be queued: as if it was never made."""
        self._usage.release(record.owner, "batch", record.id)
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(
                keys.batch_key(record.id), keys.batch_outcomes_key(record.id), keys.batch_results_key(record.id)
            )
            pipe.zrem(keys.owner_index_key("batch", record.owner), record.id)
            pipe.execute()

    def forget_output_file(self, batch_id: str, file_id: str, owner: str | None) -> bool:
        """Delete a batch's output or error file (its results stay readable on the batch)."""
        with self._redis.pipeline(transaction=True) as pipe:
            for field in ("output_file_id", "error_file_id"):
                pipe.hget(keys.batch_key(batch_id), field)
            pipe.zrem(keys.owner_index_key("file", owner), file_id)
            *named, _ = pipe.execute()
        for field, value in zip(("output_file_id", "error_file_id"), named, strict=True):
            if value == file_id.encode():
                self._redis.hdel(keys.batch_key(batch_id), field)
                return True
        return False

    def mark_cancelling(self, batch_id: str) -> None:
        self._redis.hsetnx(keys.batch_key(batch_id), "cancelling_at", int(time.time()))

    def collect(self, batch_id: str, line: int, view: JobView) -> bool:
        """Collect a finished item's result (once); True if this finished the batch."""
        raw_owner = self._redis.hget(keys.batch_key(batch_id), "owner")
        if raw_owner is None:
            return False  # the batch has expired
        owner = raw_owner.decode() or None
        outcome = outcome_of(view)
        result = ItemResult(line=line, outcome=outcome, view=view)  # type: ignore[arg-type]
        output_id, error_id = output_file_ids(batch_id)
        result_json = result.model_dump_json()
        collected, finished = self._collect(
            keys=[
                keys.batch_key(batch_id),
                keys.batch_outcomes_key(batch_id),
                keys.batch_results_key(batch_id),
                keys.owner_index_key("file", owner),
            ],
            args=[
                line,
                outcome,
                result_json,
                self._settings.batch_ttl_s,
                int(time.time()),
                output_id,
                error_id,
                time.time(),
            ],
        )
        if collected:
            self._usage.grow(owner, "batch", batch_id, len(result_json))
        return bool(finished)
