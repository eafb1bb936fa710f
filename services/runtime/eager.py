"""Starting a job before RQ's own records of it are written.

Between taking a job and calling its function, RQ writes its records of the execution: the
execution and its registries, the worker's state, the job's status and heartbeats (two
pipelines and the logging around them, about 1.5-3 ms on a busy 2-core node, all of it before
the prompt is read), after a heartbeat of three round trips. thinkstream's job store, not RQ's
records, says whether and where a job runs: the gateway, the sweeper and the job itself read
only the store. So an inference worker calls the job's function at once and writes RQ's
records beside it; the job's end is recorded only after them, in RQ's order. The heartbeat
before the call is left out: the records heartbeat the worker.
"""

from __future__ import annotations

import sys
from concurrent.futures import Future

from redis.client import Pipeline
from rq.executions import Execution
from rq.job import Job
from rq.queue import Queue
from rq.timeouts import JobTimeoutException
from rq.utils import now

from services.runtime.serving import StoppableWorker


class EagerWorker(StoppableWorker):
    _taken = False
    """A job was just taken, and RQ's next heartbeat is the one it sends before calling it."""

    def reorder_queues(self, reference_queue: Queue) -> None:
        """RQ calls this right after it has taken a job, and only then."""
        super().reorder_queues(reference_queue)
        self._taken = True

    def heartbeat(self, timeout: int | None = None, pipeline: Pipeline | None = None) -> None:
        """RQ's heartbeat, in one round trip: RQ sends its three commands one by one when not in
        a pipeline. The one RQ sends right after taking a job (0.4-1.6 ms before the prompt,
        traced) is left out: the job's records (`write_records`) heartbeat the worker too, with
        the job's longer TTL, right away or within `RECORDS_WAIT_S`."""
        if pipeline is not None:
            super().heartbeat(timeout, pipeline)
            return
        if self._taken:
            self._taken = False
            return
        with self.connection.pipeline(transaction=False) as own:
            super().heartbeat(timeout, own)
            own.execute()

    def write_records(self, job: Job) -> Execution:
        """RQ's records of the job's execution, as its worker writes them before calling the job
        (`prepare_execution`, then `prepare_job_execution`)."""
        execution = self.prepare_execution(job)
        self.prepare_job_execution(job, remove_from_intermediate_queue=len(self.queues) == 1)
        return execution

    def job_returned(self) -> None:
        """The job's function has returned or raised; its records are waited for next."""

    def perform_eagerly(self, job: Job, queue: Queue, records: Future[Execution]) -> bool:
        """RQ's `perform_job`, with the job called while `records` (`write_records`) are still
        being written: they are waited for before the job's success or failure is recorded. A
        failure to write them (Redis gone) is raised, as RQ raises it."""
        try:
            job.started_at = now()
            timeout = job.timeout or self.queue_class.DEFAULT_TIMEOUT
            with self.death_penalty_class(timeout, JobTimeoutException, job_id=job.id):
                return_value = job.perform()
        except BaseException:  # as RQ: whatever the job raises is its failure
            exc_info = sys.exc_info()
            self.job_returned()
            self._finalize_failure(job, queue, records.result(), exc_info)
            return False
        self.job_returned()
        execution = records.result()
        try:
            self._finalize_success(job, queue, execution, return_value)
        except BaseException:
            self._finalize_failure(job, queue, execution, sys.exc_info())
            return False
        return True
