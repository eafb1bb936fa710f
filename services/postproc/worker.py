"""The post-processing worker: an RQ worker on the checks queue."""

from __future__ import annotations

import logging
import os
import socket
import uuid

from redis import Redis
from rq import Queue, SimpleWorker

from services.runtime.heartbeat import Heartbeat
from shared import keys
from shared.settings import Settings

log = logging.getLogger(__name__)

KIND = "postproc"


def run_postproc(settings: Settings, redis: Redis, *, burst: bool = False) -> None:
    """Serve check jobs until stopped. Checks are quick and CPU-light, so jobs run in-process."""
    worker_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}-check"
    queue = Queue(keys.POSTPROC_QUEUE, connection=redis)
    worker = SimpleWorker([queue], connection=redis, name=worker_id)
    heartbeat = Heartbeat(
        redis,
        kind=KIND,
        worker_id=worker_id,
        info={"pid": os.getpid(), "host": socket.gethostname()},
        interval_s=settings.heartbeat_interval_s,
        ttl_s=settings.worker_ttl_s,
    )
    with heartbeat:
        worker.work(burst=burst, with_scheduler=False, logging_level=settings.log_level)
    log.info("post-processing worker %s stopped", worker_id)
