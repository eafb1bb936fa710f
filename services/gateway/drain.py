"""Whether the gateway is shutting down.

On SIGTERM the gateway stops accepting connections and lets the open ones finish, for up to
`THINKSTREAM_DRAIN_S`: streams run to their job's end, so a rolling update loses nobody's answer.
A stream that ends while draining may have been ended by the gateway, not by its client, so it
no longer cancels its job.
"""

from __future__ import annotations


class Drain:
    def __init__(self) -> None:
        self.started = False

    def start(self) -> None:
        self.started = True
