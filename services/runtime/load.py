"""A worker's load as it happens: the jobs in its slots and the tokens it streams.

The threads that run jobs count (`job()` around each job, `generated()` as tokens are sent); the
heartbeat thread takes a `reading()` at every beat, which measures tokens/s over the readings of
the last `window_s`. A worker that runs one job at a time has one slot; one that runs several at
once gives its slot count and enters `job()` once per job.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from shared.worker_load import WorkerLoad


class LoadMeter:
    def __init__(self, *, slots: int = 1, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        """`window_s`: how far back tokens/s is measured (at least this long once the worker
        has run for it: from the newest reading that old)."""
        if slots < 1:
            raise ValueError(f"a worker has at least one slot, not {slots}")
        self._slots = slots
        self._window_s = window_s
        self._clock = clock
        self._lock = threading.Lock()
        self._busy = 0
        self._tokens = 0
        self._readings: deque[tuple[float, int]] = deque([(clock(), 0)])

    @contextmanager
    def job(self) -> Iterator[None]:
        """Count a job in a slot while the block runs."""
        with self._lock:
            self._busy += 1
        try:
            yield
        finally:
            with self._lock:
                self._busy -= 1

    @property
    def busy(self) -> int:
        """Jobs in the worker's slots now."""
        with self._lock:
            return self._busy

    def generated(self, tokens: int) -> None:
        """Count tokens a job has just sent."""
        with self._lock:
            self._tokens += tokens

    def reading(self) -> WorkerLoad:
        """The load now, with tokens/s since the newest earlier reading at least `window_s` old
        (or the first one)."""
        now = self._clock()
        with self._lock:
            busy, tokens = self._busy, self._tokens
            readings = self._readings
            while len(readings) > 1 and readings[1][0] <= now - self._window_s:
                readings.popleft()
            since, before = readings[0]
            readings.append((now, tokens))
        span_s = now - since
        rate = (tokens - before) / span_s if span_s > 0 else 0.0
        return WorkerLoad(
            slots=self._slots,
            busy=busy,
            generated_tokens=tokens,
            tokens_per_s=round(rate, 1),
            window_s=round(span_s, 2),
        )
