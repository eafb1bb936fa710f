"""Every Redis key, queue and channel name thinkstream uses, in one place."""

PREFIX = "ts"

INFERENCE_QUEUE = "thinkstream-inference"
POSTPROC_QUEUE = "thinkstream-postproc"


def live_workers_key(kind: str) -> str:
    """Sorted set of worker ids of one kind ("inference", "postproc"), scored by last heartbeat."""
    return f"{PREFIX}:workers:{kind}"


def job_key(job_id: str) -> str:
    """Hash holding a job's request, status and inference result."""
    return f"{PREFIX}:job:{job_id}"


def job_events_key(job_id: str) -> str:
    """List of the job's events in `seq` order: the replay log."""
    return f"{PREFIX}:job:{job_id}:events"


def job_events_channel(job_id: str) -> str:
    """Pub/sub channel on which each event is published as it is appended."""
    return f"{PREFIX}:job:{job_id}:live"


def job_cancel_key(job_id: str) -> str:
    """Set when a client cancels the job; the worker checks it between tokens."""
    return f"{PREFIX}:job:{job_id}:cancel"


def worker_key(worker_id: str) -> str:
    """Hash describing a live worker (kind, model, pid); expires with its heartbeat."""
    return f"{PREFIX}:worker:{worker_id}"
