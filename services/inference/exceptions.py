class InferenceError(Exception):
    """Base of the inference worker's errors."""


class NoWorkerContext(InferenceError):
    """An inference job function was called outside an inference worker."""


class JobSpecMissing(InferenceError):
    """The job's request is gone from Redis (expired or deleted)."""


class UnknownAdapter(InferenceError):
    """A job asked for a LoRA adapter this worker did not load."""


class SlotError(InferenceError):
    """A batched sequence could not go on (the model could not evaluate it, or it was misused)."""
