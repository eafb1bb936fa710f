"""The job record: every write to a job's hash, its event log and the running-jobs table.

This module is the only writer of job state. Every status change happens in one atomic step with
the event that announces it, and every queueing of a job happens in one transaction with the
change of state that causes it (so a job is never "queued" without being in a queue).

Runs. Each queueing of a job (its submit, a retry after its worker died, a revision) is a new
`run`, numbered in the job hash and carried by the RQ job. A worker may start a run only if it is
the job's current run and not started yet, and all its writes are fenced by it: a worker taken
for dead, or a queue entry delivered twice, can never write into the run that replaced it.

Ends. A job ends exactly once (`done`, `error` or `canceled`; the event log refuses anything
after). What must follow an end happens here, whoever ended it: a self-consistency sample
reports to its parent (and the last report queues the vote), and a batch item is collected into
its batch.

Two planes. A job's own records (its hash, event log, live channel, cancel and control flags:
the high-volume part, one write per streamed token) form the event plane; the queues, the
scheduler, admission, the running-jobs table, batches and the rest form the queue plane. By
default both are the one Redis and every step below is as atomic as it reads. With
`events_redis_url` the event plane has a Redis of its own, e.g. a Redis Cluster: a job's records
are hash-tagged by its id (shared/keys.py), so every script over one job still runs on one shard
and a status change is still one atomic step with the event that announces it. What crosses the
planes is only the queue bookkeeping around a transition, written in an order that a crash
between the two writes cannot turn into a lost or doubled job:

- submit: the records first, then the queue entries (a crash between leaves a record nobody was
  told about; it expires);
- start: the running-jobs entry first, taken only if free (HSETNX), then the record's `started`
  (a crash between leaves an entry of a dead worker: the sweeper claims the job as usual); a
  refused start gives the entry back;
- claim and revise (a new run): a pending-requeue note on the queue plane first
  (`keys.PENDING_REQUEUES`, in the same script that takes the job from a dead worker), then the
  record's move to the new run, then the queue entry with the note removed in one transaction.
  The sweeper finishes notes older than a worker's TTL (`finish_requeues`): it queues the run if
  the record moved, redoes a claim that did not, and drops a note whose transition never
  happened. Starting twice is refused by the run fence, so finishing twice is harmless.
- the rest (generated, cancel, end) was two steps already and stays in the same order.

Not covered with an events URL: `accept_replicas` waits for the queue Redis's replicas only in the
one-Redis layout (the records are then on the event plane, replicated by its own setup).
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Sequence
from typing import Any, Literal

from redis import Redis
from redis.client import Pipeline
from redis.exceptions import WatchError

from services.store.batches import BatchLedger
from services.store.exceptions import ControlRefused, JobGone, NotReplicated
from services.store.job_scripts import (
    CLAIM_EVENTS_SCRIPT,
    CLAIM_SCRIPT,
    QUEUE_UPDATE_SCRIPT,
    RELEASE_SCRIPT,
    REPORT_SCRIPT,
    START_EVENTS_SCRIPT,
    START_SCRIPT,
    TAKE_SCRIPT,
)
from services.store.queues import Admission, Origin, rq_queue
from services.store.records import JobRecord, NewJob, PendingRequeue, SampleOutcome, Start
from services.store.replicas import Replicas
from services.store.scheduler import Priority, Scheduler
from services.store.scripts import queue_script
from shared import eventlog, keys, stats
from shared.eventlog import Kept, fold, stamp
from shared.schemas import (
    AnswerEvent,
    CanceledEvent,
    ControlAction,
    ControlRequest,
    DoneEvent,
    ErrorEvent,
    Finding,
    InferenceResult,
    JobSpec,
    JobStatus,
    JobView,
    QueuedEvent,
    ResumedEvent,
    RetryEvent,
    RevisionEvent,
    SampleEvent,
    StartedEvent,
    parse_event,
)
from shared.settings import Settings
from shared.tasks import INFERENCE_FUNC, POSTPROC_FUNC, VOTE_FUNC

log = logging.getLogger(__name__)


class JobStore:
    def __init__(self, redis: Redis, settings: Settings, events: Redis | None = None) -> None:
        """`redis`: the queue plane; `events`: the event plane's client when it has its own
        Redis (`settings.events_redis_url`), else None (the same Redis)."""
        if events is None and settings.events_redis_url is not None:
            raise ValueError("THINKSTREAM_EVENTS_REDIS_URL is set: the job store needs a client of the event plane")
        self._redis = redis
        self._events = redis if events is None else events
        self._split = events is not None and events is not redis
        self._settings = settings
        self._append = self._events.register_script(eventlog.APPEND_SCRIPT)
        self._start = redis.register_script(START_SCRIPT)
        self._release = redis.register_script(RELEASE_SCRIPT)
        self._claim = redis.register_script(CLAIM_SCRIPT)
        self._queue_update = self._events.register_script(QUEUE_UPDATE_SCRIPT)
        self._start_events = self._events.register_script(START_EVENTS_SCRIPT)
        self._take = redis.register_script(TAKE_SCRIPT)
        self._claim_events = self._events.register_script(CLAIM_EVENTS_SCRIPT)
        self._report = self._events.register_script(REPORT_SCRIPT)
        self.admission = Admission(redis, settings)
        self.batches = BatchLedger(redis, settings)
        self.scheduler = Scheduler(redis, settings)
        self.replicas = Replicas(redis, wanted=settings.accept_replicas, timeout_ms=settings.accept_replica_timeout_ms)

    @property
    def redis(self) -> Redis:
        """The queue plane."""
        return self._redis

    @property
    def events(self) -> Redis:
        """The event plane: where every job's records are (the queue plane's Redis by default)."""
        return self._events

    @property
    def settings(self) -> Settings:
        return self._settings

    def ttl_s(self, origin: Origin) -> int:
        """How long a job's record lives: its result's TTL past its longest run, and for a batch
        item also the time it may wait behind its batch."""
        settings = self._settings
        extra = settings.batch_ttl_s if origin is Origin.BATCH else 0
        return settings.job_ttl_s + settings.job_timeout_s + extra

    # -----------------------------------------------------------------------------------------
    # Reading

    def read(self, job_id: str) -> JobRecord:
        return JobRecord.parse(job_id, self._events.hgetall(keys.job_key(job_id)))

    def read_many(self, job_ids: Sequence[str]) -> list[JobRecord]:
        """The records of these jobs, in one round trip; those that expired are left out."""
        with self._events.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                pipe.hgetall(keys.job_key(job_id))
            rows = pipe.execute()
        return [JobRecord.parse(job_id, row) for job_id, row in zip(job_ids, rows, strict=True) if row]

    def view(self, job_id: str, status: JobStatus | None = None) -> JobView:
        """The job as a client sees it, folded from its events."""
        record = self.read(job_id)
        events = (parse_event(raw) for raw in self._events.lrange(keys.job_events_key(job_id), 0, -1))
        return fold(job_id, status or record.status, record.created_at, events)

    # -----------------------------------------------------------------------------------------
    # Queueing

    def submit(
        self,
        jobs: Sequence[NewJob],
        *,
        owner: str | None,
        origin: Origin,
        pool: str,
        priority: Priority = Priority.NORMAL,
        queue_name: str | None = None,
    ) -> int:
        """Store and queue `jobs` (a job, a self-consistency job with its samples, or a whole
        batch) for the workers of model `pool`, at `priority`: all or none. `queue_name`: an idle
        worker's own queue (conversation affinity) instead of the pool. Raises `QueueFull` /
        `KeyQueueFull` when the origin or the owner has no room for all the jobs that run;
        returns how many were waiting before them."""
        running = [job.spec.job_id for job in jobs if job.runs]
        position = self.admission.admit(running, origin, owner) if running else 0
        ttl_s = self.ttl_s(origin)
        now = time.time()
        records = [(job, self._fields(job, now, owner, origin, pool, priority, queue_name)) for job in jobs]
        queued = stamp(QueuedEvent, position=position)
        try:
            if self._split:
                self._create(records, queued, ttl_s)
            with self._redis.pipeline(transaction=True) as pipe:
                pipe.multi()
                for job, fields in records:
                    if not self._split:
                        job_key = keys.job_key(job.spec.job_id)
                        pipe.hset(job_key, mapping=fields)
                        pipe.expire(job_key, ttl_s)
                        queue_script(
                            pipe,
                            self._append,
                            eventlog.append_keys(job.spec.job_id),
                            eventlog.append_args(queued, ttl_s),
                        )
                        pipe.expire(keys.job_events_key(job.spec.job_id), ttl_s)
                    if job.runs:
                        job_pool = job.pool or pool
                        self._enqueue_run(pipe, job.spec.job_id, 1, job_pool, priority, owner, queue_name=queue_name)
                pipe.execute()
        except Exception:
            if running:
                self.admission.leave(running, origin, owner)
            raise
        if not self._split:
            self._replicated(jobs, ttl_s)
        return position

    def _fields(
        self,
        job: NewJob,
        now: float,
        owner: str | None,
        origin: Origin,
        pool: str,
        priority: Priority,
        queue_name: str | None,
    ) -> dict[str, str | int | float]:
        """A new job's hash."""
        job_pool = job.pool or pool
        fields: dict[str, str | int | float] = {
            "spec": job.spec.model_dump_json(),
            "status": JobStatus.QUEUED.value,
            "created_at": job.spec.created_at,
            "enqueued_at": now,
            "owner": owner or "",
            "origin": origin.value,
            "pool": job_pool,
            "priority": priority.value,
            "queue": queue_name or keys.owner_queue(job_pool, priority.value, owner),
            "run": 1,
            "attempt": 1,
        }
        if job.batch is not None:
            fields.update(batch=job.batch.batch_id, batch_line=job.batch.line)
        if job.children:
            fields["children"] = json.dumps(list(job.children))
        return fields

    def _create(
        self, records: Sequence[tuple[NewJob, dict[str, str | int | float]]], queued: QueuedEvent, ttl_s: int
    ) -> None:
        """The jobs' records on an event plane of its own, before anything is queued: a worker
        never takes a job whose record is not there yet. (A cluster runs no script in a
        pipeline: one job after the other.)"""
        for job, fields in records:
            job_key = keys.job_key(job.spec.job_id)
            self._events.hset(job_key, mapping=fields)
            self._events.expire(job_key, ttl_s)
            self._append(keys=eventlog.append_keys(job.spec.job_id), args=eventlog.append_args(queued, ttl_s))
            self._events.expire(keys.job_events_key(job.spec.job_id), ttl_s)

    def _replicated(self, jobs: Sequence[NewJob], ttl_s: int) -> None:
        """Return once the jobs are on a replica (when replicas are online), so that losing the
        primary right after the client heard "accepted" loses nothing. Raises `NotReplicated`
        (and cancels the jobs) if no replica acknowledged them in time."""
        replicas = self.replicas.needed()
        if not replicas:
            return
        with self._redis.pipeline(transaction=False) as pipe:
            # A write after the jobs' on this connection: WAIT counts what this connection wrote.
            pipe.expire(keys.job_key(jobs[-1].spec.job_id), ttl_s)
            if self.replicas.wait(pipe, replicas):
                return
        for job in jobs:
            with contextlib.suppress(JobGone):
                self.cancel(job.spec.job_id)
        raise NotReplicated(replicas, self.replicas.timeout_ms)

    def _enqueue_run(
        self,
        pipe: Pipeline,
        job_id: str,
        run: int,
        pool: str,
        priority: Priority,
        owner: str | None,
        *,
        queue_name: str | None = None,
        at_front: bool = False,
    ) -> str:
        """Put run `run` on the owner's queue of the pool (or on `queue_name`, a worker's own),
        in the caller's transaction; returns the queue's name."""
        settings = self._settings
        name = queue_name or keys.owner_queue(pool, priority.value, owner)
        rq_id = rq_id_of(job_id, run)
        rq_queue(name, self._redis).enqueue_call(
            INFERENCE_FUNC,
            args=(job_id, run),
            job_id=rq_id,
            at_front=at_front,
            timeout=settings.job_timeout_s,
            result_ttl=0,
            failure_ttl=settings.job_ttl_s,
            pipeline=pipe,
        )
        if queue_name is None:
            self.scheduler.enlist(pipe, pool, priority, owner, rq_id)
        return name

    def to_pool(self, job_id: str, run: int) -> bool:
        """Move a run waiting in a worker's own queue (the worker is gone) to its pool."""
        try:
            record = self.read(job_id)
        except JobGone:
            return False
        if record.ended or record.run != run:
            return False
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.multi()
            name = self._enqueue_run(pipe, job_id, run, record.pool, record.priority, record.owner, at_front=True)
            if not self._split:
                pipe.hset(keys.job_key(job_id), "queue", name)
            pipe.execute()
        if self._split:
            # After the entry: a crash between only leaves `queue` naming the gone worker's queue,
            # where a cancel finds nothing to remove (the run then starts, sees the flag and ends).
            self._events.hset(keys.job_key(job_id), "queue", name)
        return True

    def update_place(
        self, job_id: str, run: int, position: int, start_at: float | None, *, min_interval_s: float
    ) -> bool:
        """Tell a waiting job's stream where it stands now: a `queued` event with its `position`
        and the seconds until its expected start (`start_at`, None: no estimate). Only while run
        `run` still waits, and at most once per `min_interval_s`; the last announced place is
        kept in the job hash (`line_position`, `line_start_at`). False if nothing was sent."""
        now = time.time()
        eta_s = None if start_at is None else round(max(start_at - now, 0.0), 1)
        event = QueuedEvent(seq=0, ts=now, position=position, eta_s=eta_s)
        seq = self._queue_update(
            keys=eventlog.append_keys(job_id),
            args=[
                event.model_dump_json(exclude={"seq"})[1:],
                run,
                position,
                "" if start_at is None else start_at,
                now,
                min_interval_s,
            ],
        )
        return bool(seq)

    # -----------------------------------------------------------------------------------------
    # A worker's run

    def start(self, job_id: str, run: int, worker_id: str) -> Start:
        """Begin run `run` of the job on `worker_id`, unless it must not run: it has ended, the
        run is stale or was started already, the job was cancelled (it is ended here as such), or
        a person's question waited past `max_queue_wait_s` (it is failed here)."""
        record = self.read(job_id)
        waited_s = time.time() - record.enqueued_at
        if (
            record.origin is Origin.INTERACTIVE
            and waited_s > self._settings.max_queue_wait_s
            and record.status is JobStatus.QUEUED
            and not record.ended
            and record.run == run
        ):
            limit = self._settings.max_queue_wait_s
            message = (
                f"the job waited {waited_s:.0f} s for a worker, longer than the limit of {limit:.0f} s "
                "(THINKSTREAM_MAX_QUEUE_WAIT_S); submit it again later"
            )
            self.fail(job_id, "queue_timeout", message)
            return Start("expired", record, waited_s=waited_s)
        kept = self._kept(job_id) if record.attempt > 1 else None
        started: StartedEvent | ResumedEvent = (
            stamp(StartedEvent, worker=worker_id, attempt=record.attempt)
            if kept is None
            else stamp(ResumedEvent, worker=worker_id, attempt=record.attempt, tokens_kept=len(kept.tokens))
        )
        args: list[str | int | float] = [
            started.model_dump_json(exclude={"seq"})[1:],
            run,
            job_id,
            worker_id,
            time.time(),
        ]
        if self._split:
            reply = self._start_split(record, args)
        else:
            reply = self._start(
                keys=[
                    *eventlog.append_keys(job_id),
                    keys.RUNNING_JOBS,
                    keys.waiting_key(record.origin.value),
                    keys.owner_waiting_key(record.origin.value, record.owner),
                    keys.job_control_key(job_id),
                ],
                args=args,
            )
        code, seq = int(reply[0]), int(reply[1])
        if code == -2:
            self.end(job_id, stamp(CanceledEvent), JobStatus.CANCELED)
            return Start("canceled", record)
        outcome: Literal["started", "ended", "stale"] = {1: "started", 0: "ended"}.get(code, "stale")  # type: ignore[assignment]
        control = ControlRequest.model_validate_json(reply[2]) if len(reply) > 2 and reply[2] else None
        return Start(outcome, record, seq=seq, waited_s=waited_s, kept=kept, control=control)

    def _start_split(self, record: JobRecord, args: list[str | int | float]) -> list[Any]:
        """START_SCRIPT across two planes: the running-jobs entry first, and only if no worker
        holds the job (a duplicate delivery must not take it from the one running it); a start
        the record refuses gives it back."""
        job_id, worker_id = record.job_id, str(args[3])
        if not self._redis.hsetnx(keys.RUNNING_JOBS, job_id, worker_id):
            return [-1, 0]
        reply: list[Any] = self._start_events(
            keys=[*eventlog.append_keys(job_id), keys.job_control_key(job_id)], args=args
        )
        if int(reply[0]) == 1:
            self.admission.leave([job_id], record.origin, record.owner)
        else:
            self.release(job_id, worker_id)
        return reply

    def _kept(self, job_id: str) -> Kept:
        """What the job's current generation streamed before its worker was lost. The lost
        run's writes are fenced off by now, so this cannot change under the new run."""
        return eventlog.kept(parse_event(raw) for raw in self._events.lrange(keys.job_events_key(job_id), 0, -1))

    def writer(
        self, job_id: str, run: int, origin: Origin = Origin.INTERACTIVE, after_seq: int = 0
    ) -> eventlog.EventWriter:
        """Appends the events of one run; refused once the job has moved to another run.
        `after_seq`: the run's `started` event (its writer then repairs events Redis lost)."""
        return eventlog.EventWriter(self._events, job_id, self.ttl_s(origin), run=run, after_seq=after_seq)

    def generated(
        self,
        job_id: str,
        run: int,
        worker_id: str,
        result: InferenceResult,
        *,
        affinity: str | None = None,
    ) -> bool:
        """The run's generation is done: store its result, mark the job `checking` and queue its
        checks. `affinity`: the conversation key whose next turn should come to this worker.
        False (and nothing done) if the job moved to another run meanwhile."""
        settings = self._settings
        code, _, _ = self._append(
            keys=eventlog.append_keys(job_id),
            args=eventlog.append_args(
                None,
                settings.job_ttl_s,
                run,
                {"status": JobStatus.CHECKING.value, "result": result.model_dump_json()},
            ),
        )
        if code != 1:
            self.release(job_id, worker_id)
            return False
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.multi()
            queue_script(pipe, self._release, [keys.RUNNING_JOBS], [job_id, worker_id])
            if affinity is not None:
                pipe.set(keys.conversation_worker_key(affinity), worker_id, ex=settings.affinity_ttl_s)
            rq_queue(keys.POSTPROC_QUEUE, self._redis).enqueue_call(
                POSTPROC_FUNC,
                args=(job_id, run),
                job_id=f"{job_id}-check-{run}",
                timeout=settings.job_timeout_s,
                result_ttl=0,
                failure_ttl=settings.job_ttl_s,
                pipeline=pipe,
            )
            pipe.execute()
        return True

    def release(self, job_id: str, worker_id: str) -> None:
        """The worker no longer runs the job (a no-op if another worker has claimed it since)."""
        self._release(keys=[keys.RUNNING_JOBS], args=[job_id, worker_id])

    # -----------------------------------------------------------------------------------------
    # Another run of the same job

    def revise(self, job_id: str, run: int, spec: JobSpec, original: JobSpec, findings: list[Finding]) -> bool:
        """Queue round `spec.round` of a job whose answer failed its checks, at the front of its
        owner's queue at the job's own priority (a batch item stays behind people), with the
        `revision` event.
        Its queue wait counts from now. False if the job moved on meanwhile."""
        record = self.read(job_id)
        if record.run != run or record.ended:
            return False
        event = stamp(RevisionEvent, round=spec.round, findings=findings)
        fields: dict[str, str | int | float] = {
            "spec": spec.model_dump_json(),
            "original": original.model_dump_json(),
            "status": JobStatus.QUEUED.value,
            "enqueued_at": time.time(),
            "run": run + 1,
            "attempt": 1,
        }
        return self._requeue(record, run, event, fields)

    def _requeue(self, record: JobRecord, run: int, event: RevisionEvent, fields: dict[str, str | int | float]) -> bool:
        ttl_s = self.ttl_s(record.origin)
        if self._split:
            pending = PendingRequeue(run + 1, "revise", time.time())
            self._redis.hset(keys.PENDING_REQUEUES, record.job_id, pending.dump())
            fields = {**fields, "queue": record_queue(record)}
            code, _, _ = self._append(
                keys=eventlog.append_keys(record.job_id), args=eventlog.append_args(event, ttl_s, run, fields)
            )
            self._queue_pending(record, run + 1, queue=int(code) == 1)
            return int(code) == 1
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.multi()
            queue_script(
                pipe, self._append, eventlog.append_keys(record.job_id), eventlog.append_args(event, ttl_s, run, fields)
            )
            # If the append is refused (the job moved on), this entry is stale: `start` refuses it.
            self._requeue_run(pipe, record, run + 1)
            (code, _, _), *_ = pipe.execute()
        return int(code) == 1

    def _requeue_run(self, pipe: Pipeline, record: JobRecord, run: int) -> None:
        """The next run of a job that ran already goes to the front of its owner's queue."""
        name = self._enqueue_run(pipe, record.job_id, run, record.pool, record.priority, record.owner, at_front=True)
        pipe.hset(keys.job_key(record.job_id), "queue", name)

    def _queue_pending(self, record: JobRecord, run: int, *, queue: bool) -> None:
        """The last step of a new run across two planes: its queue entry (`queue`: the record
        moved to the run) and the pending note's removal, in one transaction."""
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.multi()
            if queue:
                self._enqueue_run(pipe, record.job_id, run, record.pool, record.priority, record.owner, at_front=True)
            pipe.hdel(keys.PENDING_REQUEUES, record.job_id)
            pipe.execute()

    def finish_requeues(self, older_than_s: float) -> list[str]:
        """Finish the new runs whose writer died between the planes (notes older than
        `older_than_s`): queue the run when the record moved to it, redo a claim that did not
        move it, drop the note of a transition that never happened. Returns the ids of the jobs
        queued. Only with an event plane of its own (nothing is ever pending otherwise)."""
        queued = []
        for raw_job, raw in self._redis.hgetall(keys.PENDING_REQUEUES).items():
            job_id, pending = raw_job.decode(), PendingRequeue.load(raw)
            if time.time() - pending.at < older_than_s:
                continue
            try:
                record = self.read(job_id)
            except JobGone:
                self._redis.hdel(keys.PENDING_REQUEUES, job_id)
                continue
            if pending.kind == "claim" and record.run == pending.run - 1 and not record.ended:
                # The dead worker's entry is gone, its record still says running: move it now.
                event = stamp(RetryEvent, attempt=record.attempt + 1, reason=pending.reason)
                if self._claim_events(
                    keys=[keys.job_key(job_id), keys.job_events_key(job_id), keys.job_events_channel(job_id)],
                    args=[record.run, event.model_dump_json(exclude={"seq"})[1:], time.time(), record_queue(record)],
                ):
                    record = self.read(job_id)
            moved = record.run == pending.run and record.status is JobStatus.QUEUED and not record.ended
            with self._redis.pipeline(transaction=True) as pipe:
                try:
                    # Unless its writer finished it meanwhile.
                    pipe.watch(keys.PENDING_REQUEUES)
                    if pipe.hget(keys.PENDING_REQUEUES, job_id) != raw:
                        continue
                    pipe.multi()
                    if moved:
                        self._enqueue_run(
                            pipe, job_id, record.run, record.pool, record.priority, record.owner, at_front=True
                        )
                    pipe.hdel(keys.PENDING_REQUEUES, job_id)
                    pipe.execute()
                except WatchError:
                    continue
            if moved:
                log.warning("job %s: queued run %d, left half done by a writer that died", job_id, record.run)
                queued.append(job_id)
        return queued

    def claim(self, job_id: str, dead_worker: str, reason: str) -> Literal["retried", "failed", "skipped"]:
        """Take the job of a dead worker: its next run goes to the front of its owner's queue
        with a `retry` event; a job lost `max_attempts` times is failed instead. "skipped" when
        another sweeper claimed it first or it ended meanwhile."""
        record = self.read(job_id)
        if record.attempt >= self._settings.max_attempts:
            if self._redis.hget(keys.RUNNING_JOBS, job_id) != dead_worker.encode():
                return "skipped"
            self.release(job_id, dead_worker)
            message = (
                f"the job was lost with its worker {record.attempt} times and is not retried again "
                f"(THINKSTREAM_MAX_ATTEMPTS={self._settings.max_attempts}); submit it again"
            )
            return "failed" if self.fail(job_id, "worker_lost", message) else "skipped"
        event = stamp(RetryEvent, attempt=record.attempt + 1, reason=reason)
        if self._split:
            return self._claim_split(record, dead_worker, event)
        job_keys = [
            keys.RUNNING_JOBS,
            keys.job_key(job_id),
            keys.job_events_key(job_id),
            keys.job_events_channel(job_id),
        ]
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.multi()
            queue_script(
                pipe,
                self._claim,
                job_keys,
                [job_id, dead_worker, record.run, event.model_dump_json(exclude={"seq"})[1:], time.time()],
            )
            # If the claim is refused, this entry is stale: `start` refuses it.
            self._requeue_run(pipe, record, record.run + 1)
            seq, *_ = pipe.execute()
        return "retried" if int(seq) else "skipped"

    def _claim_split(self, record: JobRecord, dead_worker: str, event: RetryEvent) -> Literal["retried", "skipped"]:
        """CLAIM_SCRIPT across two planes: take the job from the dead worker and note the new
        run (queue plane), move the record to it (event plane), queue it (queue plane)."""
        job_id, run = record.job_id, record.run + 1
        pending = PendingRequeue(run, "claim", time.time(), event.reason)
        if not self._take(keys=[keys.RUNNING_JOBS, keys.PENDING_REQUEUES], args=[job_id, dead_worker, pending.dump()]):
            return "skipped"
        seq = self._claim_events(
            keys=[keys.job_key(job_id), keys.job_events_key(job_id), keys.job_events_channel(job_id)],
            args=[record.run, event.model_dump_json(exclude={"seq"})[1:], time.time(), record_queue(record)],
        )
        self._queue_pending(record, run, queue=bool(seq))
        return "retried" if seq else "skipped"

    # -----------------------------------------------------------------------------------------
    # Ending

    def fail(self, job_id: str, code: str, message: str, *, run: int = 0) -> bool:
        return self.end(job_id, stamp(ErrorEvent, message=message, code=code), JobStatus.FAILED, run=run)

    def end(
        self,
        job_id: str,
        event: DoneEvent | ErrorEvent | CanceledEvent,
        status: JobStatus,
        *,
        run: int = 0,
        sample: SampleOutcome | None = None,
    ) -> bool:
        """End the job with `event` (and `status`, in the same step). Then what must follow: a
        sample reports to its parent (`sample`, or an error when it ended without an answer), a
        batch item is collected into its batch. False if the job had ended already (or `run` is
        no longer its run): nothing is done then."""
        try:
            record = self.read(job_id)
        except JobGone:
            return False
        code, _, _ = self._append(
            keys=eventlog.append_keys(job_id),
            args=eventlog.append_args(event, self.ttl_s(record.origin), run, {"status": status.value}),
        )
        if code != 1:
            return False
        if isinstance(event, ErrorEvent):
            stats.record_failure(self._redis, event.code)
        self.admission.leave([job_id], record.origin, record.owner)
        if record.spec.parent is not None and record.spec.sample_index is not None:
            self._report_sample(record, sample or SampleOutcome(answer="", key="", verdict="error"))
        if record.batch is not None:
            self.batches.collect(record.batch.batch_id, record.batch.line, self.view(job_id, status))
        return True

    def cancel(self, job_id: str) -> JobStatus:
        """Ask the job to stop. A queued job ends at once (and never runs); a running one stops
        at its next flush of text (the append that sends it reports the flag; within
        `stream_flush_ms` of decoding) and ends itself; an answer already being checked is left
        to finish. A self-consistency job cancels its samples.
        Returns the status right after the request."""
        record = self.read(job_id)
        if record.ended:
            return record.status
        for child in record.children:
            with contextlib.suppress(JobGone):
                self.cancel(child)
        self._events.set(keys.job_cancel_key(job_id), 1, ex=self.ttl_s(record.origin))
        if record.status is JobStatus.QUEUED:
            rq_id = rq_id_of(job_id, record.run)
            if record.queue:
                rq_queue(record.queue, self._redis).remove(rq_id)
            self.scheduler.forget(self._redis, record.pool, record.priority, rq_id)
            if self.end(job_id, stamp(CanceledEvent), JobStatus.CANCELED):
                return JobStatus.CANCELED
        return self.read(job_id).status

    def control(self, job_id: str, action: ControlAction) -> JobStatus:
        """Ask the job's current round, queued or generating, to `end_reasoning`: its worker
        reads the request at its next flush of text and closes the reasoning there (a queued
        job answers without reasoning). A self-consistency job passes it to its samples still
        reasoning. Raises `ControlRefused` when there is no reasoning left to end; returns the
        status right after the request."""
        record = self.read(job_id)
        if record.children:
            taken = 0
            for child in record.children:
                with contextlib.suppress(JobGone, ControlRefused):
                    self.control(child, action)
                    taken += 1
            if not taken:
                raise ControlRefused("reasoning_over", f"no sample of job {job_id} is still reasoning")
            return self.read(job_id).status
        if record.ended or record.status not in (JobStatus.QUEUED, JobStatus.RUNNING):
            raise ControlRefused(
                "job_finished",
                f"job {job_id} has finished generating (status {record.status.value}): there is no reasoning to end",
            )
        if record.spec.max_reasoning_tokens == 0:
            raise ControlRefused("no_reasoning", f"job {job_id} does not reason (its reasoning budget is 0)")
        if self._answering(job_id):
            raise ControlRefused("reasoning_over", f"job {job_id} is already answering: its reasoning has ended")
        request = ControlRequest(action=action, round=record.spec.round)
        self._events.set(keys.job_control_key(job_id), request.model_dump_json(), ex=self.ttl_s(record.origin))
        return self.read(job_id).status

    def _answering(self, job_id: str) -> bool:
        """Whether the job's current round has streamed answer text (a revision starts over)."""
        for raw in reversed(self._events.lrange(keys.job_events_key(job_id), 0, -1)):
            event = parse_event(raw)
            if isinstance(event, RevisionEvent):
                return False
            if isinstance(event, AnswerEvent):
                return True
        return False

    def withdraw(self, job_id: str, code: str, message: str) -> bool:
        """Take a job that is still waiting out of its queue and fail it with `code` and
        `message` (no worker of its model came). False, and nothing done, once it has started
        or ended."""
        try:
            record = self.read(job_id)
        except JobGone:
            return False
        if record.ended or record.status is not JobStatus.QUEUED:
            return False
        rq_id = rq_id_of(job_id, record.run)
        if record.queue:
            rq_queue(record.queue, self._redis).remove(rq_id)
        self.scheduler.forget(self._redis, record.pool, record.priority, rq_id)
        return self.fail(job_id, code, message)

    def _report_sample(self, record: JobRecord, outcome: SampleOutcome) -> None:
        """Tell the parent one sample is in; the report that completes the set queues the vote."""
        parent = record.spec.parent
        assert parent is not None and record.spec.sample_index is not None
        event = stamp(
            SampleEvent,
            index=record.spec.sample_index,
            job_id=record.job_id,
            answer=outcome.answer,
            key=outcome.key,
            verdict=outcome.verdict,
            rounds=record.spec.round + 1,
        )
        try:
            parent_record = self.read(parent)
        except JobGone:
            log.warning("sample %s finished after its parent %s expired", record.job_id, parent)
            return
        ttl_s = self.ttl_s(parent_record.origin)
        if self._split:
            _, _, reported = self._report(keys=eventlog.append_keys(parent), args=eventlog.append_args(event, ttl_s))
        else:
            with self._redis.pipeline(transaction=True) as pipe:
                pipe.multi()
                queue_script(pipe, self._append, eventlog.append_keys(parent), eventlog.append_args(event, ttl_s))
                pipe.hincrby(keys.job_key(parent), "samples_reported", 1)
                _, reported = pipe.execute()
        if int(reported) == parent_record.spec.samples:
            rq_queue(keys.POSTPROC_QUEUE, self._redis).enqueue_call(
                VOTE_FUNC,
                args=(parent,),
                job_id=f"{parent}-vote",
                timeout=self._settings.job_timeout_s,
                result_ttl=0,
                failure_ttl=ttl_s,
            )


def samples_of(spec: JobSpec, seeds: Sequence[int], temperature: float, new_id: Sequence[str]) -> list[JobSpec]:
    """The sample jobs of self-consistency job `spec`, one per seed."""
    params = spec.params.model_copy(update={"temperature": temperature})
    return [
        spec.model_copy(
            update={
                "job_id": job_id,
                "params": params.model_copy(update={"seed": seed}),
                "samples": 1,
                "parent": spec.job_id,
                "sample_index": index,
                "conversation": None,
            }
        )
        for index, (seed, job_id) in enumerate(zip(seeds, new_id, strict=True))
    ]


def record_queue(record: JobRecord) -> str:
    """The queue a job's next run goes to: its owner's, at its priority, for its model."""
    return keys.owner_queue(record.pool, record.priority.value, record.owner)


def rq_id_of(job_id: str, run: int) -> str:
    """The RQ job id of a run: the job's id for its first run, `<id>-<run>` after."""
    return job_id if run == 1 else f"{job_id}-{run}"
