"""`thinkstream ask` while its question waits: its place and a countdown to the expected start."""

from __future__ import annotations

import io
import time

import pytest
from rich.console import Console

from services.cli import queue_wait
from services.cli.queue_wait import QueueWait


def console(terminal: bool) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=terminal, width=100, color_system=None), out


def test_queue_wait_counts_down_between_updates(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(queue_wait.time, "monotonic", lambda: now[0])
    waiting = QueueWait(console(terminal=False)[0])
    waiting.update(3, 12.0)
    assert waiting.line().plain == "waiting for a worker · 3 ahead · starts in about 12 s"
    now[0] += 4.5
    assert waiting.line().plain.endswith("starts in about 8 s")
    now[0] += 8
    assert waiting.line().plain.endswith("starting any moment"), "an estimate that ran out says so"
    waiting.update(0, None)
    assert waiting.line().plain == "waiting for a worker · next in line"


def test_queue_wait_prints_each_update_when_not_on_a_terminal() -> None:
    term, out = console(terminal=False)
    waiting = QueueWait(term)
    waiting.update(2, None)
    waiting.update(1, 5.0)
    waiting.stop()
    assert out.getvalue().splitlines() == [
        "waiting for a worker · 2 ahead",
        "waiting for a worker · 1 ahead · starts in about 5 s",
    ]


def test_queue_wait_on_a_terminal_is_one_live_line_that_goes() -> None:
    term, out = console(terminal=True)
    waiting = QueueWait(term)
    waiting.update(1, 30.0)
    time.sleep(0.2)  # the live line redraws itself
    waiting.update(0, 20.0)
    waiting.stop()
    term.print("Answer")
    shown = out.getvalue()
    assert "starts in about 30 s" in shown or "starts in about 29 s" in shown
    assert shown.rstrip().endswith("Answer")
