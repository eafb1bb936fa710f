"""Errors of the record stores. Each message says what to do about it."""

from shared.exceptions import ThinkstreamError


class ForbiddenTask(ThinkstreamError):
    """A queued job names a function that is not one of thinkstream's tasks."""


class QueueFull(ThinkstreamError):
    """Too many jobs of this origin wait; nothing was queued."""

    def __init__(self, waiting: int, wanted: int, limit: int) -> None:
        self.waiting = waiting
        self.wanted = wanted
        self.limit = limit
        extra = f" (this request needs {wanted} places)" if wanted > 1 else ""
        super().__init__(f"the service is busy: {waiting} questions are already waiting{extra}")


class KeyQueueFull(ThinkstreamError):
    """One API key has as many jobs waiting as it may; nothing was queued."""

    def __init__(self, owner: str, waiting: int, wanted: int, limit: int, origin: str) -> None:
        self.owner = owner
        self.waiting = waiting
        self.wanted = wanted
        self.limit = limit
        setting = "THINKSTREAM_KEY_MAX_BATCH_ITEMS" if origin == "batch" else "THINKSTREAM_KEY_MAX_QUEUED_JOBS"
        what = "batch items" if origin == "batch" else "jobs"
        needs = f"; this request needs {wanted} more" if wanted > 1 else ""
        super().__init__(
            f"API key {owner!r} already has {waiting} {what} waiting, its limit is {limit} ({setting}){needs}: "
            "cancel some or wait for them to start"
        )


class NotReplicated(ThinkstreamError):
    """No Redis replica acknowledged a new job in time; it was cancelled, not accepted."""

    def __init__(self, replicas: int, timeout_ms: int) -> None:
        super().__init__(
            f"the job could not be copied to {replicas} Redis replica(s) within {timeout_ms} ms "
            "(THINKSTREAM_ACCEPT_REPLICA_TIMEOUT_MS), so it was not accepted: a replica is lagging or cut off"
        )


class JobGone(ThinkstreamError):
    """The job's record is missing (never stored, or expired)."""


class StorageQuotaExceeded(ThinkstreamError):
    """An API key would keep more files, batches or bytes than it may; nothing was stored."""

    def __init__(self, message: str, *, status: int) -> None:
        self.status = status
        """413 when the object alone is larger than the key may ever keep, else 429."""
        super().__init__(message)


class StorageFull(ThinkstreamError):
    """Redis is near the memory budget the service keeps for itself; nothing new is stored."""


class ControlRefused(ThinkstreamError):
    """A live control the job cannot take now: it has finished generating, it never reasons, or
    its reasoning has ended already. `code` says which."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)
