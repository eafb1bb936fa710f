"""Starting a job before RQ's own records of it are written.

Between taking a job and calling its function, RQ writes its records of the execution: the
execution and its registries, the worker's state, the job's status and heartbeats (two
pipelines and the logging around them, about 1.5-3 ms on a busy 2-core node, all of it before
the prompt is read), after a heartbeat of three round trips. thinkstream's job store, not RQ's
records, says whether and where a job runs: the gateway, the sweeper and the job itself read
only the store. So an inference worker calls the job's function at once and writes RQ's
records on a thread beside it, once the job has sent its first text: written while the prompt
was evaluated, their few milliseconds of Python and Redis made the evaluation about 5 ms slower
on 2 cores (llama.cpp's threads wait for each other at every step, so a third thread on the
cores stalls both). The job's end is recorded only after them, in RQ's order.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from redis.client import Pipeline
from rq.executions import Execution
from rq.job import Job
from rq.queue import Queue
from rq.timeouts import JobTimeoutException
from rq.utils import now
from rq.worker import WorkerStatus

from services.runtime.serving import StoppableWorker

RECORDS_WAIT_S = 0.25
"""Longest RQ's records of a job are held back, waiting for the job's first text."""


class EagerWorker(StoppableWorker):
    """`records_threads`: how many jobs' records may be held back at once (one per slot)."""

    def __init__(self, *args: Any, records_threads: int = 1, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._records = ThreadPoolExecutor(max_workers=records_threads, thread_name_prefix="rq-records")

    def heartbeat(self, timeout: int | None = None, pipeline: Pipeline | None = None) -> None:
        """RQ's heartbeat, in one round trip: RQ sends its three commands one by one when not in
        a pipeline, as it does right after taking a job (about 2 ms there on a busy node)."""
        if pipeline is not None:
            super().heartbeat(timeout, pipeline)
            return
        with self.connection.pipeline(transaction=False) as own:
            super().heartbeat(timeout, own)
            own.execute()

    def records_after(self, job: Job, first_text: threading.Event, *, busy: bool) -> Future[Execution]:
        """RQ's records of `job`, written on a thread of their own once `first_text` is set (the
        job sent its first text, or ended), or after `RECORDS_WAIT_S`. `busy`: write the
        worker's state `busy` at once, as RQ does when it starts a job (a worker with free
        slots keeps saying `idle`)."""
        return self._records.submit(self._write_records_after, job, first_text, busy)

    def _write_records_after(self, job: Job, first_text: threading.Event, busy: bool) -> Execution:
        if busy:
            self.set_state(WorkerStatus.BUSY)
        first_text.wait(RECORDS_WAIT_S)
        return self.write_records(job, busy=busy)

    def write_records(self, job: Job, *, busy: bool = True) -> Execution:
        """RQ's records of the job's execution, as its worker writes them before calling the job
        (`prepare_execution`, then `prepare_job_execution`); without `busy`, the execution's
        records without the worker's state."""
        if busy:
            execution = self.prepare_execution(job)
        else:
            with self.connection.pipeline() as pipe:
                execution = Execution.create(job, self.get_heartbeat_ttl(job), pipeline=pipe, worker_name=self.name)
                self.executions[execution.id] = execution
                pipe.execute()
        self.prepare_job_execution(job, remove_from_intermediate_queue=len(self.queues) == 1)
        return execution

    def perform_eagerly(self, job: Job, queue: Queue, records: Future[Execution], returned: Callable[[], None]) -> bool:
        """RQ's `perform_job`, with the job called while `records` are still to be written:
        `returned` is called when the job's function has returned or raised, then the records
        are waited for before the job's success or failure is recorded. A failure to write them
        (Redis gone) is raised, as RQ raises it."""
        try:
            job.started_at = now()
            timeout = job.timeout or self.queue_class.DEFAULT_TIMEOUT
            with self.death_penalty_class(timeout, JobTimeoutException, job_id=job.id):
                return_value = job.perform()
        except BaseException:  # as RQ: whatever the job raises is its failure
            exc_info = sys.exc_info()
            returned()
            self._finalize_failure(job, queue, records.result(), exc_info)
            return False
        returned()
        execution = records.result()
        try:
            self._finalize_success(job, queue, execution, return_value)
        except BaseException:
            self._finalize_failure(job, queue, execution, sys.exc_info())
            return False
        return True

    def teardown(self) -> None:
        self._records.shutdown()
        super().teardown()  # type: ignore[no-untyped-call]
