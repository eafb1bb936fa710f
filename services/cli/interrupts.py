"""Holding Ctrl-C back while a step that must not be cut in half runs."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


@contextmanager
def ctrl_c_deferred() -> Iterator[None]:
    """A Ctrl-C (SIGINT) during the block is raised as KeyboardInterrupt when the block ends,
    not in the middle of it. Only the main thread can handle signals; elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        caught.append(signum)

    previous = signal.signal(signal.SIGINT, hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


class Presses:
    """Presses of a key that the terminal turns into a signal, counted until taken."""

    def __init__(self, available: bool) -> None:
        self.available = available
        """False where the key cannot be caught (no such signal, or not the main thread)."""
        self._count = 0

    def press(self) -> None:
        self._count += 1

    def take(self) -> bool:
        """Whether the key was pressed since the last call."""
        pressed, self._count = self._count > 0, 0
        return pressed


@contextmanager
def ctrl_backslash() -> Iterator[Presses]:
    """Count Ctrl-\\ presses during the block instead of letting them end the process (the
    terminal sends SIGQUIT for that key, whose default is to quit with a core dump). Where there
    is no SIGQUIT (Windows) or off the main thread, nothing is caught and `available` is False."""
    quit_signal = getattr(signal, "SIGQUIT", None)
    if quit_signal is None or threading.current_thread() is not threading.main_thread():
        yield Presses(available=False)
        return
    presses = Presses(available=True)
    previous = signal.signal(quit_signal, lambda signum, frame: presses.press())
    try:
        yield presses
    finally:
        signal.signal(quit_signal, previous)
