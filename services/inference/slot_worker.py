"""A worker that runs up to K jobs at once on one model (continuous batching, `slots.py`).

How it takes K jobs from the queues: it is one RQ worker, with one name, one own queue and one
heartbeat, as a worker of one job at a time. Its loop dequeues a job (its own queue first, then
the scheduler's pick from the pool: `scheduler.PoolQueue`), starts it in a thread of its own
and goes back to dequeue at once while a slot is free; with all K busy it waits for one to come
free. So the scheduler's order (priorities, aging, turns over API keys) decides every slot's
next job, one pick at a time, and a job never waits in a worker while another could run it.

RQ's state for the worker says `idle` exactly while it has a free slot: the gateway sends a
conversation's next turn to the worker that holds its KV state when it does (RQ 3 keeps
several executions per worker, one per running job, and their heartbeats). The job records,
claims and the sweeper are per job as before: a dead worker's running jobs are all claimed.
On SIGTERM it stops taking jobs and lets the running ones finish.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from concurrent.futures import Future
from typing import Any

from rq import Queue
from rq.executions import Execution
from rq.job import Job
from rq.timeouts import TimerDeathPenalty

from services.inference.context import InferenceContext, use_context
from services.inference.slot_engine import SlotPool
from services.runtime.eager import EagerWorker
from services.runtime.logs import job_logging

log = logging.getLogger(__name__)

SLOT_CONTEXT_TOKENS = 16384
"""The KV cache the automatic slot count may use in all, in tokens of context."""
MAX_AUTO_SLOTS = 8


def default_slots(cores: int, n_ctx: int) -> int:
    """Slots when THINKSTREAM_SLOTS is 0: two per core (a batched step costs little more than a
    single token's while decoding is bound by memory), at most 8, and no more than 16k tokens
    of context in all (a 4k context: 4 slots; 16k or more: 1)."""
    return max(1, min(2 * max(cores, 1), MAX_AUTO_SLOTS, SLOT_CONTEXT_TOKENS // max(n_ctx, 1)))


class SlotWorker(EagerWorker):
    """Runs each job in a thread of its own, with a context whose engine is the job's slot. The
    job starts at once; the worker's loop writes RQ's records of it meanwhile (`eager.py`)."""

    # Jobs run in threads: a SIGALRM (RQ's default job timeout) would reach only the main one.
    death_penalty_class = TimerDeathPenalty

    def __init__(self, *args: Any, context: InferenceContext, pool: SlotPool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.context = context
        self.pool = pool
        self._changed = threading.Condition()
        self._running: dict[Future[Execution], tuple[Job, threading.Thread]] = {}
        """The running jobs, by the records RQ keeps of them (written, or being written)."""

    @property
    def busy_slots(self) -> int:
        with self._changed:
            return len(self._running)

    def execute_job(self, job: Job, queue: Queue) -> None:
        """Start the job on a free slot and write RQ's records of it; return once a slot is free
        for the next one."""
        records: Future[Execution] = Future()
        thread = threading.Thread(target=self._perform, args=(job, queue, records), name=f"slot-{job.id}")
        with self._changed:
            self._running[records] = (job, thread)
        thread.start()
        try:
            records.set_result(self.write_records(job))
        except BaseException as exc:  # the job's thread records nothing then; RQ's loop sees why
            records.set_exception(exc)
            raise
        with self._changed:
            while len(self._running) >= self.pool.n_slots:
                self._changed.wait()

    def _perform(self, job: Job, queue: Queue, records: Future[Execution]) -> None:
        engine = self.pool.engine()
        context = dataclasses.replace(self.context, engine=engine)
        try:
            with use_context(context), context.load.job(), job_logging(job.id, worker=self.name):
                self.perform_eagerly(job, queue, records)
        except Exception:  # a job's failure is recorded by perform_eagerly; this is a bug or Redis gone
            log.exception("slot thread of job %s failed", job.id)
        finally:
            engine.finish()
            with self._changed:
                self._running.pop(records, None)
                self._changed.notify_all()

    def refresh_job_heartbeat(self) -> None:
        with self._changed:
            running = [(job, records) for records, (job, _) in self._running.items()]
        for job, records in running:
            if records.done() and records.exception() is None:
                self.maintain_heartbeats(job, records.result())

    def wait_for_jobs(self) -> None:
        """Until every running job has ended (a warm stop)."""
        with self._changed:
            threads = [thread for _, thread in self._running.values()]
        if threads:
            log.info("worker %s: waiting for %d running job(s) to end", self.name, len(threads))
        for thread in threads:
            thread.join()

    def teardown(self) -> None:
        self.wait_for_jobs()
        super().teardown()  # type: ignore[no-untyped-call]
