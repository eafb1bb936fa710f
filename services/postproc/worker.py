"""The post-processing worker: an RQ worker on the checks queue."""

from __future__ import annotations

import logging
import os
import socket
import uuid

from redis import Redis
from rq import Queue
from rq.job import Job

from services.postproc.context import PostprocContext, use_context
from services.postproc.warmup import warm_up
from services.runtime.heartbeat import Heartbeat
from services.runtime.logs import job_logging, worker_logging
from services.runtime.redis_client import connect_events
from services.runtime.serving import StoppableWorker, serve
from services.runtime.sweeper import Sweeper
from services.store.jobs import JobStore
from services.store.queues import rq_queue
from services.store.tasks import SERIALIZER, TaskJob
from shared import keys
from shared.settings import Settings

log = logging.getLogger(__name__)

KIND = "postproc"


class PostprocWorker(StoppableWorker):
    """Runs check jobs in-process, each with its job id stamped on every log line."""

    def __init__(self, *args: object, context: PostprocContext, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.context = context

    def execute_job(self, job: Job, queue: Queue) -> None:
        # Check jobs have their own RQ id (`<job id>-check-<run>`); their first argument is the
        # job id the client knows, which is the one to log.
        job_id = str(job.args[0]) if job.args else job.id
        with use_context(self.context), job_logging(job_id, worker=self.name):
            super().execute_job(job, queue)


def run_postproc(settings: Settings, redis: Redis, *, burst: bool = False) -> None:
    """Serve check jobs until stopped. Checks are quick and CPU-light, so jobs run in-process."""
    worker_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}-check"
    queue = rq_queue(keys.POSTPROC_QUEUE, redis)
    events = connect_events(settings)
    context = PostprocContext(store=JobStore(redis, settings, events), settings=settings)
    worker = PostprocWorker(
        [queue], connection=redis, name=worker_id, context=context, job_class=TaskJob, serializer=SERIALIZER
    )
    if settings.warm_up:
        warm_up()  # before the first heartbeat: /readyz waits for it
    heartbeat = Heartbeat(
        redis,
        kind=KIND,
        worker_id=worker_id,
        info={"pid": os.getpid(), "host": socket.gethostname()},
        interval_s=settings.heartbeat_interval_s,
        ttl_s=settings.worker_ttl_s,
        housekeeping=Sweeper(redis, settings, events).sweep,
    )
    with worker_logging(worker_id), heartbeat:
        serve(worker, redis, burst=burst, logging_level=settings.log_level)
    log.info("post-processing worker %s stopped", worker_id)
