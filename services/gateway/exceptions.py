class GatewayError(Exception):
    """Base of the gateway's errors."""


class QueueUnavailable(GatewayError):
    """Redis could not take the job."""
