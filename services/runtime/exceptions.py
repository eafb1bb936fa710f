class RuntimeToolError(Exception):
    """Base of the process plumbing's errors."""


class RedisServerError(RuntimeToolError):
    """A private redis-server could not be started."""
