class HubError(Exception):
    """Base of the model hubs' errors: each message says what to do."""


class HubUnreachable(HubError):
    """The hub does not answer (no network, a wrong endpoint)."""


class FileMissing(HubError):
    """The repository or the file in it does not exist (or is not visible without a token)."""


class DownloadInterrupted(HubError):
    """The connection broke during the download; what arrived is kept for the next run."""


class ChecksumMismatch(HubError):
    """The downloaded file's SHA-256 is not the one the hub published; it was deleted."""
