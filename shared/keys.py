"""Every Redis key, queue and channel name thinkstream uses, in one place."""

PREFIX = "ts"

INFERENCE_QUEUE = "thinkstream-inference"
"""Prefix of every inference queue name: a pool of one model, split by priority and API key."""
POSTPROC_QUEUE = "thinkstream-postproc"


def pool_queue(pool: str) -> str:
    """The name a worker of model `pool` listens on: not a list of its own, but the pool's
    queues, taken from fairly (services/store/scheduler.py)."""
    return f"{INFERENCE_QUEUE}:{pool}"


def owner_queue(pool: str, priority: str, owner: str | None) -> str:
    """The RQ queue of one API key's jobs of one priority for model `pool` (without keys, one
    owner `-`)."""
    return f"{INFERENCE_QUEUE}:{pool}:{priority}:{owner or '-'}"


def ring_key(pool: str, priority: str) -> str:
    """List of the owners with jobs waiting at one priority, in round-robin order."""
    return f"{PREFIX}:ring:{pool}:{priority}"


def ring_members_key(pool: str, priority: str) -> str:
    """Set of the same owners, to add each to the ring once."""
    return f"{PREFIX}:ring:{pool}:{priority}:members"


def priority_waiting_key(pool: str, priority: str) -> str:
    """Sorted set of the RQ ids of jobs waiting at one priority, scored by when they were
    queued: the oldest one's age ages its priority."""
    return f"{PREFIX}:waiting:{pool}:{priority}"


def backlog_key(pool: str, priority: str) -> str:
    """List of the RQ ids of the jobs waiting at one priority for model `pool`: the same jobs as
    `priority_waiting_key`, as a list, because an autoscaler (KEDA's redis scaler) can read only
    a list's length. Kubernetes scales each model's workers on these."""
    return f"{PREFIX}:backlog:{pool}:{priority}"


def doorbell_key(pool: str) -> str:
    """List a queueing pushes to and idle workers of the pool block on, so a new job is taken
    at once rather than at the next poll."""
    return f"{PREFIX}:doorbell:{pool}"


def queue_updates_lease_key(pool: str) -> str:
    """Held for a moment by the gateway replica that sends the pool's queue updates this second,
    so that replicas side by side do not send them twice."""
    return f"{PREFIX}:lineup:{pool}:lease"


def worker_queue(worker_id: str) -> str:
    """A worker's own inference queue, checked before the pool: a conversation's next turn
    goes there while the worker that holds its KV state is alive and idle."""
    return f"thinkstream-worker:{worker_id}"


def live_workers_key(kind: str) -> str:
    """Sorted set of worker ids of one kind ("inference", "postproc"), scored by last heartbeat."""
    return f"{PREFIX}:workers:{kind}"


# A job's own records (its hash, its event log and channel, its cancel and control flags) carry
# the job id as a hash tag, `{<id>}`: on a Redis Cluster (the event plane's, when it has its own)
# they all land on one shard, so every script over one job runs there. Nothing else is tagged.


def job_tag(job_id: str) -> str:
    """The hash tag of a job's records: the part of their names a cluster hashes."""
    return f"{{{job_id}}}"


def job_key(job_id: str) -> str:
    """Hash holding a job's request, status and inference result."""
    return f"{PREFIX}:job:{job_tag(job_id)}"


def job_events_key(job_id: str) -> str:
    """List of the job's events in `seq` order: the replay log."""
    return f"{PREFIX}:job:{job_tag(job_id)}:events"


def job_events_channel(job_id: str) -> str:
    """Pub/sub channel on which each event is published as it is appended."""
    return f"{PREFIX}:job:{job_tag(job_id)}:live"


def job_cancel_key(job_id: str) -> str:
    """Set when a client cancels the job; the worker sees it at the job's next flush of text."""
    return f"{PREFIX}:job:{job_tag(job_id)}:cancel"


def job_control_key(job_id: str) -> str:
    """A client's live control of the running job (`ControlRequest` JSON, e.g. end the
    reasoning now); the worker reads it at each flush of text, next to the cancel flag."""
    return f"{PREFIX}:job:{job_tag(job_id)}:control"


def worker_key(worker_id: str) -> str:
    """Hash describing a live worker (kind, model, pid; an inference worker's `load`: slots, jobs
    in them, tokens/s); expires with its heartbeat."""
    return f"{PREFIX}:worker:{worker_id}"


STATUS_HISTORY_KEY = f"{PREFIX}:status:history"
"""List of the operators' page's points (JSON: time, tokens/s, jobs waiting and running), oldest
first, trimmed to the last `status_history_s`: one series for every gateway replica."""
STATUS_LEASE_KEY = f"{PREFIX}:status:lease"
"""The id of the gateway replica that records the points, for a few sample intervals."""


STATS_TOTALS_KEY = f"{PREFIX}:stats:totals"
"""Hash of cluster-wide counters over finished jobs (verdicts, finish reasons, tokens)."""


def stats_histogram_key(name: str) -> str:
    """Hash of one histogram over finished jobs: a count per bucket plus the sum."""
    return f"{PREFIX}:stats:histogram:{name}"


def worker_stats_key(worker_id: str) -> str:
    """Hash of one inference worker's counters (jobs, tokens, busy seconds)."""
    return f"{PREFIX}:stats:worker:{worker_id}"


def conversation_worker_key(conversation: str) -> str:
    """The id of the worker that answered the conversation's last turn (its KV state is there)."""
    return f"{PREFIX}:conv:{conversation}"


def rq_worker_key(worker_id: str) -> str:
    """RQ's own hash for a worker (its `state` field is "busy" while a job runs)."""
    return f"rq:worker:{worker_id}"


RUNNING_JOBS = f"{PREFIX}:running"
"""Hash of job id → id of the inference worker running it; the sweeper requeues the jobs of
workers whose heartbeat stopped."""
PENDING_REQUEUES = f"{PREFIX}:requeues"
"""Hash of job id → `PendingRequeue` JSON: a new run of the job about to be queued, written before
the job's record moves to that run when the event plane has its own Redis (so a crash between
the two writes is finished by the sweeper; services/store/jobs.py)."""


def file_key(file_id: str) -> str:
    """Hash of an uploaded or generated file (`/v1/files`): its description and its bytes."""
    return f"{PREFIX}:file:{file_id}"


def batch_key(batch_id: str) -> str:
    """Hash of a batch: its record (items and their job ids) and the time of each status change."""
    return f"{PREFIX}:batch:{batch_id}"


def batch_outcomes_key(batch_id: str) -> str:
    """Hash of input line number -> outcome, for every item whose result has been collected."""
    return f"{PREFIX}:batch:{batch_id}:outcomes"


def batch_results_key(batch_id: str) -> str:
    """List of the batch's result lines, in the order they were collected."""
    return f"{PREFIX}:batch:{batch_id}:results"


def owner_index_key(kind: str, owner: str | None) -> str:
    """Sorted set of one API key's batches or files (`kind`), by creation time, for listing them.
    Without keys there is one owner, `-` (key names start with a letter or digit)."""
    return f"{PREFIX}:index:{kind}:{owner or '-'}"


def rate_window_key(kind: str, subject: str, minute: int) -> str:
    """Counter of one caller's requests in one minute (epoch seconds // 60); expires after it.
    `kind`: "key" (an API key's name), "client" (an address without a key), "failed" (an
    address's requests with a wrong key)."""
    return f"{PREFIX}:rate:{kind}:{subject}:{minute}"


def waiting_key(origin: str) -> str:
    """Sorted set of the ids of the jobs of one origin ("interactive", "batch") waiting for a
    worker, scored by the time they were queued: admission counts it atomically."""
    return f"{PREFIX}:admitted:{origin}"


def owner_waiting_key(origin: str, owner: str | None) -> str:
    """The same for one API key's jobs (without keys, one owner `-`)."""
    return f"{PREFIX}:admitted:{origin}:{owner or '-'}"


def owner_objects_key(owner: str | None) -> str:
    """Sorted set of one API key's stored files and batches (`file:<id>`, `batch:<id>`), scored
    by when each expires: its storage quota counts them."""
    return f"{PREFIX}:usage:{owner or '-'}:objects"


def owner_sizes_key(owner: str | None) -> str:
    """Hash of the bytes each of those objects takes (a batch grows with its results)."""
    return f"{PREFIX}:usage:{owner or '-'}:bytes"
