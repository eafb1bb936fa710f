class PostprocError(Exception):
    """Base of the post-processing worker's errors."""


class UnknownCheck(PostprocError):
    """A check name that is not in the registry."""


class JobStateMissing(PostprocError):
    """The job's request or inference result is gone from Redis."""


class NoWorkerContext(PostprocError):
    """A post-processing job function was called outside a post-processing worker."""
