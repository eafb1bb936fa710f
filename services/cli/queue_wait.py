"""The line `thinkstream ask` shows while its question waits for a worker: its place and a
countdown to the expected start that the gateway's queue updates carry.

On a terminal it is one live line, redrawn as the countdown runs and gone once the job starts;
elsewhere (a pipe, a log) each update is printed once.
"""

from __future__ import annotations

import math
import time

from rich.console import Console
from rich.status import Status
from rich.text import Text


class QueueWait:
    def __init__(self, console: Console) -> None:
        self._console = console
        self._position: int | None = None
        self._starts_at: float | None = None
        """When a worker is expected to start the job, on this process's monotonic clock."""
        self._status: Status | None = None

    def update(self, position: int, eta_s: float | None) -> None:
        """A `queued` event: where the job stands, and in how many seconds it should start."""
        self._position = position
        self._starts_at = None if eta_s is None else time.monotonic() + eta_s
        if not self._console.is_terminal:
            self._console.print(self.line())
        elif self._status is None:
            self._status = self._console.status(self)
            self._status.start()

    def stop(self) -> None:
        """The job started (or ended): the line goes."""
        if self._status is not None:
            self._status.stop()
            self._status = None

    def line(self) -> Text:
        ahead = "next in line" if not self._position else f"{self._position} ahead"
        text = f"waiting for a worker · {ahead}"
        if self._starts_at is not None:
            left_s = self._starts_at - time.monotonic()
            text += f" · starts in about {math.ceil(left_s)} s" if left_s >= 1 else " · starting any moment"
        return Text(text, style="dim")

    def __rich__(self) -> Text:
        return self.line()  # redrawn on every refresh of the live line: the countdown runs
