"""Folding a job's events: the text a client saw, and what a worker taking the job over keeps."""

from __future__ import annotations

import json

import fakeredis

from shared import keys
from shared.eventlog import EventWriter, fold, kept, stamp
from shared.schemas import (
    AnswerEvent,
    Event,
    ForcedClose,
    JobStatus,
    ReasoningEvent,
    ResumedEvent,
    RetryEvent,
    RevisionEvent,
    StartedEvent,
)


def log() -> list[Event]:
    return [
        StartedEvent(seq=1, ts=1.0, worker="w1"),
        ReasoningEvent(seq=2, ts=2.0, text="Two and", tokens=2, token_ids=[5, 6]),
        RetryEvent(seq=3, ts=3.0, attempt=2, reason="w1 stopped responding"),
        ResumedEvent(seq=4, ts=4.0, worker="w2", attempt=2, tokens_kept=2),
        ReasoningEvent(seq=5, ts=5.0, text=" two", tokens=1, token_ids=[7, 8]),
        AnswerEvent(
            seq=6, ts=6.0, text="4", tokens=1, token_ids=[9], forced_close=ForcedClose(at_token=4, reason="eos")
        ),
    ]


def test_fold_a_resumed_job_keeps_the_text_of_every_attempt() -> None:
    view = fold("j", JobStatus.RUNNING, 0.0, log())
    assert (view.reasoning, view.answer, view.attempt) == ("Two and two", "4", 2)


def test_kept_collects_token_ids_their_times_and_the_forced_close() -> None:
    got = kept(log())
    assert got.tokens == [5, 6, 7, 8, 9]
    assert got.stamps == [2.0, 2.0, 5.0, 5.0, 6.0]
    assert got.forced_close == ForcedClose(at_token=4, reason="eos")
    assert (got.reasoning, got.answer) == ("Two and two", "4")


def test_kept_starts_again_at_a_revision() -> None:
    events = [*log(), RevisionEvent(seq=7, ts=7.0, round=1, findings=[])]
    events.append(ReasoningEvent(seq=8, ts=8.0, text="Again", tokens=1, token_ids=[42]))
    got = kept(events)
    assert (got.tokens, got.forced_close, got.reasoning, got.answer) == ([42], None, "Again", "")
    view = fold("j", JobStatus.RUNNING, 0.0, events)
    assert (view.reasoning, view.revisions[0].reasoning) == ("Again", "Two and two")


# ---------------------------------------------------------------------------------------------
# A worker's writer and a Redis that lost its last events (a failover to a replica they had not
# reached yet)


def writer_log(redis: fakeredis.FakeRedis) -> list[tuple[int, str]]:
    events = map(json.loads, redis.lrange(keys.job_events_key("j"), 0, -1))
    return [(e["seq"], e.get("text", e["type"])) for e in events]


def started_writer(redis: fakeredis.FakeRedis) -> EventWriter:
    redis.hset(keys.job_key("j"), mapping={"run": 1})
    setup = EventWriter(redis, "j", 600)
    seq = setup.emit(stamp(StartedEvent, worker="w1"))
    return EventWriter(redis, "j", 600, run=1, after_seq=seq)


def test_writer_writes_again_the_events_redis_lost_under_the_same_seqs() -> None:
    redis = fakeredis.FakeRedis()
    writer = started_writer(redis)
    for text in ("one", " two", " three"):
        writer.emit(stamp(ReasoningEvent, text=text, tokens=1, token_ids=[1]))
    seen = writer_log(redis)  # what followers have
    redis.rpop(keys.job_events_key("j"), 2)  # the promoted replica never got the last two
    assert writer.emit(stamp(ReasoningEvent, text=" four", tokens=1, token_ids=[2])) == 5
    assert writer_log(redis) == [*seen, (5, " four")]
    assert writer.rewritten == 2


def test_writer_that_cannot_fill_the_gap_appends_after_what_is_there() -> None:
    redis = fakeredis.FakeRedis()
    writer = started_writer(redis)
    writer.emit(stamp(ReasoningEvent, text="one", tokens=1))
    redis.rpop(keys.job_events_key("j"), 2)  # lost the `started` event too, which was not this writer's
    assert writer.emit(stamp(ReasoningEvent, text=" two", tokens=1)) == 1
    assert writer.emit(stamp(ReasoningEvent, text=" three", tokens=1)) == 2
    assert writer_log(redis) == [(1, " two"), (2, " three")]
