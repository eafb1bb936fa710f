"""The per-job event log: an append-only Redis list replayed by late clients, plus a pub/sub
channel that carries each event live.

One Lua script appends and publishes atomically and assigns `seq`, so any number of writers
(gateway, inference worker, post-processing worker) can add to the same job without gaps or
duplicates, and nothing is appended after a terminal event. Sync and async Redis clients run the
same script, so this module only builds its arguments and folds what it returns.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, Protocol, TypeVar

from shared import keys
from shared.schemas import (
    TERMINAL_EVENT_TYPES,
    AnswerEvent,
    CanceledEvent,
    CheckEvent,
    DoneEvent,
    EarlierAnswer,
    ErrorEvent,
    Event,
    EventBase,
    JobStatus,
    JobView,
    ReasoningEvent,
    RetryEvent,
    RevisionEvent,
    SampleEvent,
    SampleView,
    StartedEvent,
    VoteEvent,
    VoteView,
)

# KEYS: events list, channel, job hash, cancel flag.  ARGV: event JSON without its opening "{"
# and without "seq", "1" if the event is terminal, TTL in seconds, the writer's attempt (0 for
# writers outside an attempt: gateway, sweeper, post-processing).
# Returns {seq, canceled}; seq is 0 when the job had already ended and nothing was appended, -1
# when the writer's attempt is no longer the job's (it was handed to another worker).
APPEND_SCRIPT = """
if redis.call('HEXISTS', KEYS[3], 'ended') == 1 then
  return {0, redis.call('EXISTS', KEYS[4])}
end
local fence = tonumber(ARGV[4])
if fence > 0 and tonumber(redis.call('HGET', KEYS[3], 'attempt') or '1') ~= fence then
  return {-1, redis.call('EXISTS', KEYS[4])}
end
local seq = redis.call('RPUSH', KEYS[1], '')
local msg = '{"seq":' .. seq .. ',' .. ARGV[1]
redis.call('LSET', KEYS[1], seq - 1, msg)
redis.call('PUBLISH', KEYS[2], msg)
if ARGV[2] == '1' then
  redis.call('HSET', KEYS[3], 'ended', seq)
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  redis.call('EXPIRE', KEYS[3], ARGV[3])
  redis.call('EXPIRE', KEYS[4], ARGV[3])
end
return {seq, redis.call('EXISTS', KEYS[4])}
"""

E = TypeVar("E", bound=EventBase)


class _ScriptHost(Protocol):
    """A synchronous redis-py client; typed structurally so this package stays a leaf."""

    def register_script(self, script: str) -> Any: ...


def append_keys(job_id: str) -> list[str]:
    return [
        keys.job_events_key(job_id),
        keys.job_events_channel(job_id),
        keys.job_key(job_id),
        keys.job_cancel_key(job_id),
    ]


def append_args(event: Event, ttl_s: int, attempt: int = 0) -> list[str | int]:
    body = event.model_dump_json(exclude={"seq"})
    return [body[1:], "1" if event.type in TERMINAL_EVENT_TYPES else "0", ttl_s, attempt]


def stamp(event_cls: type[E], **fields: object) -> E:
    """An event ready to append: `seq` is assigned by the script, `ts` is now."""
    return event_cls(seq=0, ts=time.time(), **fields)


def fold(job_id: str, status: JobStatus, created_at: float, events: Iterable[Event]) -> JobView:
    """The job a client sees, rebuilt from its events.

    A `retry` or `started` event opens a new attempt, so a retried job never shows the text of
    an abandoned one.
    """
    view = JobView(id=job_id, status=status, created_at=created_at)
    reasoning: list[str] = []
    answer: list[str] = []
    for event in events:
        if isinstance(event, RevisionEvent):
            earlier = EarlierAnswer(
                round=event.round - 1, reasoning="".join(reasoning), answer="".join(answer), checks=view.checks
            )
            view.revisions.append(earlier)
            reasoning.clear()
            answer.clear()
            view.checks = None
        elif isinstance(event, SampleEvent):
            view.samples.append(SampleView.model_validate(event.model_dump(exclude={"seq", "ts", "type"})))
        elif isinstance(event, VoteEvent):
            view.vote = VoteView(winner=event.winner, votes=event.votes, confidence=event.confidence)
        elif isinstance(event, StartedEvent | RetryEvent):
            reasoning.clear()
            answer.clear()
            view.attempt = event.attempt
        elif isinstance(event, ReasoningEvent):
            reasoning.append(event.text)
        elif isinstance(event, AnswerEvent):
            answer.append(event.text)
        elif isinstance(event, CheckEvent):
            view.checks = event.report
        elif isinstance(event, DoneEvent):
            view.passed = event.passed
            view.finish_reason = event.result.finish_reason
            view.reasoning_end = event.result.reasoning_end
            view.usage = event.result.usage
            view.timings = event.result.timings
        elif isinstance(event, ErrorEvent):
            view.error = event.message
        elif isinstance(event, CanceledEvent):
            view.finish_reason = "canceled"
    view.reasoning = "".join(reasoning)
    view.answer = "".join(answer)
    return view


class EventWriter:
    """Appends one job's events from a worker (synchronous Redis client)."""

    def __init__(self, redis: _ScriptHost, job_id: str, ttl_s: int, attempt: int = 0) -> None:
        self._script = redis.register_script(APPEND_SCRIPT)
        self._keys = append_keys(job_id)
        self._ttl_s = ttl_s
        self.attempt = attempt or 1
        self._attempt = attempt
        self.canceled = False
        self.closed = False
        self.superseded = False
        """The job was handed to another worker (this one was taken for dead): stop quietly."""

    def emit(self, event: Event) -> int:
        """Append and publish; returns the event's `seq` (0 if nothing was appended)."""
        seq, canceled = self._script(keys=self._keys, args=append_args(event, self._ttl_s, self._attempt))
        self.canceled = bool(canceled)
        self.superseded = seq == -1
        self.closed = seq <= 0
        return max(int(seq), 0)
