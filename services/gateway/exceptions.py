from shared.batch_api import LineError, describe_errors


class GatewayError(Exception):
    """Base of the gateway's errors."""


class QueueUnavailable(GatewayError):
    """Redis could not take the job."""


class QueueBusy(GatewayError):
    """Too many jobs are waiting; the client should retry later (`QueueFull`, with when)."""

    def __init__(self, message: str, waiting: int, retry_after_s: int) -> None:
        self.waiting = waiting
        self.retry_after_s = retry_after_s
        super().__init__(f"{message}; retry in {retry_after_s} s")


class ModelNotFound(GatewayError):
    """A request named a model (or an adapter) this deployment does not serve."""

    def __init__(
        self, requested: str, served: list[str], *, adapters: list[str] | None = None, base: str | None = None
    ) -> None:
        self.requested = requested
        shown = requested if len(requested) <= 80 else requested[:80] + "…"
        if base is not None:
            have = ", ".join(repr(f"{base}:{a}") for a in adapters or []) or "none"
            message = f"the model {base!r} has no adapter named in {shown!r} (its adapters: {have})"
        else:
            names = ", ".join(repr(name) for name in served[:20])
            message = f"the model {shown!r} does not exist here: use {'one of ' if len(served) > 1 else ''}{names}"
        super().__init__(f"{message} (GET /v1/models lists the names)")


class ModelUnavailable(GatewayError):
    """A known model that the gateway cannot serve now (it cannot read the model's vocabulary)."""


class OllamaModelNotFound(ModelNotFound):
    """The same, asked through Ollama's API: Ollama's words, and where to find the names."""

    def __init__(self, requested: str, served: list[str]) -> None:
        super().__init__(requested, served)
        shown = requested if len(requested) <= 80 else requested[:80] + "…"
        names = ", ".join(f"'{name}'" for name in served[:20])
        self.args = (f"model '{shown}' not found: this server serves {names} (GET /api/tags lists the names)",)


class ResourceNotFound(GatewayError):
    """A file or batch that does not exist, has expired, or belongs to another API key."""

    code = "not_found"


class FileNotFound(ResourceNotFound):
    code = "file_not_found"


class BatchNotFound(ResourceNotFound):
    code = "batch_not_found"


class FileTooLarge(GatewayError):
    """A batch input file past `batch_max_bytes`."""

    def __init__(self, limit_bytes: int) -> None:
        self.limit_bytes = limit_bytes
        super().__init__(
            f"the file is larger than {limit_bytes} bytes, the most a batch takes "
            "(THINKSTREAM_BATCH_MAX_BYTES): split it"
        )


class InvalidBatch(GatewayError):
    """A batch input file with problems; `errors` name them by line. Nothing was run."""

    def __init__(self, errors: list[LineError]) -> None:
        self.errors = errors
        super().__init__(describe_errors(errors))


class InvalidApiKey(GatewayError):
    """A request without a valid `Authorization: Bearer` key, on a gateway that has keys."""


class RateLimited(GatewayError):
    """One API key went past its requests per minute or its queued jobs."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(f"{message}; retry in {retry_after_s} s")


class NothingMoreToStream(GatewayError):
    """A stream was asked to resume at or after the last event of a job that has ended."""


class BadCursor(GatewayError):
    """`Last-Event-ID` or `after` is not a seq."""
