"""The per-job event log: an append-only Redis list replayed by late clients, plus a pub/sub
channel that carries each event live.

One Lua script appends and publishes atomically and assigns `seq`, so any number of writers
(gateway, inference worker, post-processing worker) can add to the same job without gaps or
duplicates, and nothing is appended after a terminal event. Sync and async Redis clients run the
same script, so this module only builds its arguments and folds what it returns.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
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
    ForcedClose,
    JobStatus,
    JobView,
    ReasoningEvent,
    ResumedEvent,
    RetryEvent,
    RevisionEvent,
    SampleEvent,
    SampleView,
    StartedEvent,
    VoteEvent,
    VoteView,
)

# KEYS: events list, channel, job hash, cancel flag.
# ARGV[1]: the event's JSON without its opening "{" and without "seq", or "" to change fields of the
#   job hash without announcing anything;  ARGV[2]: "1" if the event is terminal;  ARGV[3]: TTL in
#   seconds;  ARGV[4]: the run the writer belongs to (0: any; every queueing of a job is a new run,
#   so a worker taken for dead cannot write into the run that replaced it);  ARGV[5]: the seq the
#   event should get (0: any), so a writer learns that Redis lost its last events;  ARGV[6...]:
#   field, value pairs of the job hash (its `status` among them) set in the same step as the event.
# Returns {code, seq, canceled}: code 1 = written (seq is the event's, 0 without one), 0 = the job
# had already ended and nothing changed, -1 = the writer's run is no longer the job's (it was
# handed to another worker, or revised) and nothing changed, -3 = the log is shorter than the
# writer expects (seq is its length) and nothing changed.
APPEND_SCRIPT = """
local canceled = redis.call('EXISTS', KEYS[4])
if redis.call('HEXISTS', KEYS[3], 'ended') == 1 then
  return {0, 0, canceled}
end
local fence = tonumber(ARGV[4])
if fence > 0 and tonumber(redis.call('HGET', KEYS[3], 'run') or '1') ~= fence then
  return {-1, 0, canceled}
end
local expect = tonumber(ARGV[5])
if expect > 0 then
  local length = redis.call('LLEN', KEYS[1])
  if length + 1 < expect then
    return {-3, length, canceled}
  end
end
if #ARGV > 5 then
  redis.call('HSET', KEYS[3], unpack(ARGV, 6))
end
local seq = 0
if ARGV[1] ~= '' then
  seq = redis.call('RPUSH', KEYS[1], '')
  local msg = '{"seq":' .. seq .. ',' .. ARGV[1]
  redis.call('LSET', KEYS[1], seq - 1, msg)
  redis.call('PUBLISH', KEYS[2], msg)
end
if ARGV[2] == '1' then
  redis.call('HSET', KEYS[3], 'ended', seq)
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  redis.call('EXPIRE', KEYS[3], ARGV[3])
  redis.call('EXPIRE', KEYS[4], ARGV[3])
end
return {1, seq, canceled}
"""

E = TypeVar("E", bound=EventBase)
log = logging.getLogger(__name__)


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


def append_args(
    event: Event | None,
    ttl_s: int,
    run: int = 0,
    fields: Mapping[str, str | int | float] | None = None,
    expect_seq: int = 0,
) -> list[str | int | float]:
    """Arguments of `APPEND_SCRIPT`: `event` (None: only `fields` change) and the job hash's
    `fields` to set in the same atomic step; `expect_seq`: the seq `event` should get (0: any)."""
    body = "" if event is None else event.model_dump_json(exclude={"seq"})[1:]
    terminal = event is not None and event.type in TERMINAL_EVENT_TYPES
    pairs = [item for field, value in (fields or {}).items() for item in (field, value)]
    return [body, "1" if terminal else "0", ttl_s, run, expect_seq, *pairs]


def stamp(event_cls: type[E], **fields: object) -> E:
    """An event ready to append: `seq` is assigned by the script, `ts` is now."""
    return event_cls(seq=0, ts=time.time(), **fields)


def fold(job_id: str, status: JobStatus, created_at: float, events: Iterable[Event]) -> JobView:
    """The job a client sees, rebuilt from its events: exactly the text its stream carried.

    A job whose worker was lost goes on from its last streamed token (`retry`, `resumed`), so
    its text runs on across attempts; a `revision` starts a new answer.
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
        elif isinstance(event, StartedEvent | RetryEvent | ResumedEvent):
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


@dataclass
class Kept:
    """What a job's current generation has streamed so far, as a worker taking it over needs it:
    the generated tokens in order, when each was streamed, and where the worker closed the
    reasoning block itself (if it did)."""

    tokens: list[int] = field(default_factory=list)
    stamps: list[float] = field(default_factory=list)
    """For each token, the `ts` of the event that carried it."""
    forced_close: ForcedClose | None = None
    reasoning: str = ""
    answer: str = ""


def kept(events: Iterable[Event]) -> Kept:
    """The tokens and text of the job's current generation (a `revision` starts a new one)."""
    out = Kept()
    reasoning: list[str] = []
    answer: list[str] = []
    for event in events:
        if isinstance(event, RevisionEvent):
            out = Kept()
            reasoning.clear()
            answer.clear()
        elif isinstance(event, ReasoningEvent | AnswerEvent):
            (reasoning if isinstance(event, ReasoningEvent) else answer).append(event.text)
            out.tokens.extend(event.token_ids)
            out.stamps.extend([event.ts] * len(event.token_ids))
            if event.forced_close is not None:
                out.forced_close = event.forced_close
    out.reasoning = "".join(reasoning)
    out.answer = "".join(answer)
    return out


class EventWriter:
    """Appends one job's events from a worker (synchronous Redis client). Every change of the
    job hash that goes with an event (its status above all) is made in the same step.

    While a worker runs a job it is the only one appending to its log, so it knows the seq each
    event must get. Redis replicates asynchronously: a primary lost a moment after it took some
    events (and published them to followers) may leave a promoted replica without them. The
    writer then finds the log shorter than it expects, and writes those events again, in order,
    before the next: the log ends up holding exactly what followers already saw, under the same
    seqs (they drop the repeats), and nothing is missing from it.
    """

    def __init__(self, redis: _ScriptHost, job_id: str, ttl_s: int, run: int = 0, after_seq: int = 0) -> None:
        """`after_seq`: the seq of the last event before this writer's first (0: unknown, and no
        seq is expected)."""
        self._script = redis.register_script(APPEND_SCRIPT)
        self._keys = append_keys(job_id)
        self._ttl_s = ttl_s
        self.run = run
        self._last_seq = after_seq
        self._sent: list[tuple[int, list[str | int | float]]] = []
        self.canceled = False
        self.closed = False
        self.superseded = False
        """The job moved on to another run (this worker was taken for dead): stop quietly."""
        self.rewritten = 0
        """Events written again after Redis lost them."""

    def emit(self, event: Event | None, **fields: str | int | float) -> int:
        """Append and publish `event` (None: none) and set `fields` of the job hash, atomically;
        returns the event's `seq` (0 if nothing was appended)."""
        expect = self._last_seq + 1 if event is not None and self._last_seq else 0
        args = append_args(event, self._ttl_s, self.run, fields, expect)
        code, seq, canceled = self._script(keys=self._keys, args=args)
        if code == -3:
            self._rewrite(int(seq))
            args[4] = self._last_seq + 1 if self._last_seq else 0
            code, seq, canceled = self._script(keys=self._keys, args=args)
        self.canceled = bool(canceled)
        self.superseded = code == -1
        self.closed = code <= 0
        if code == 1 and event is not None:
            self._last_seq = int(seq)
            self._sent.append((int(seq), args))
        return int(seq) if code == 1 else 0

    def _rewrite(self, length: int) -> None:
        """The log has `length` events, fewer than this writer appended: write the lost ones
        again. If it lost more than this writer's own (its first event too), the gap cannot be
        filled: the next event just follows what is there."""
        lost = [(seq, args) for seq, args in self._sent if seq > length]
        self.rewritten = 0
        if not lost or lost[0][0] != length + 1:
            log.error("the job's event log lost events this worker cannot write again (it has %d)", length)
            self._last_seq = 0
            return
        for seq, args in lost:
            code, _, _ = self._script(keys=self._keys, args=[*args[:4], seq, *args[5:]])
            if code != 1:
                break
            self.rewritten += 1
        log.warning("Redis lost %d event(s) of this job (a failover?); written again", self.rewritten)
        self._last_seq = length + self.rewritten
