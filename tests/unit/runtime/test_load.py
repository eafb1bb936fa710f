"""A worker's load meter: the jobs in its slots and its tokens/s, as its heartbeat reports them."""

from __future__ import annotations

import threading

import pytest

from services.runtime.load import LoadMeter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_load_counts_jobs_in_their_slots_while_they_run(clock: Clock) -> None:
    meter = LoadMeter(slots=4, window_s=5, clock=clock)
    assert (meter.reading().slots, meter.reading().busy) == (4, 0)
    with meter.job(), meter.job():
        assert meter.reading().busy == 2
    with pytest.raises(RuntimeError), meter.job():
        raise RuntimeError("the job failed")
    assert meter.reading().busy == 0, "a job that raised leaves its slot"


def test_load_tokens_per_s_over_the_window(clock: Clock) -> None:
    meter = LoadMeter(window_s=5, clock=clock)
    clock.now += 2
    meter.generated(100)
    first = meter.reading()
    assert (first.generated_tokens, first.tokens_per_s, first.window_s) == (100, 50.0, 2.0), "since it started"
    for _ in range(5):  # beats every 2 s at 30 tokens/s
        clock.now += 2
        meter.generated(60)
        reading = meter.reading()
    assert reading.generated_tokens == 400
    assert reading.tokens_per_s == 30.0
    assert 5 <= reading.window_s < 7, "from the newest reading at least 5 s old"
    clock.now += 6  # idle since
    assert meter.reading().tokens_per_s == 0.0


def test_load_counts_tokens_from_several_threads(clock: Clock) -> None:
    meter = LoadMeter(slots=4, window_s=5, clock=clock)

    def send() -> None:
        for _ in range(10_000):
            meter.generated(1)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert meter.reading().generated_tokens == 40_000


def test_load_needs_a_slot() -> None:
    with pytest.raises(ValueError, match="at least one slot"):
        LoadMeter(slots=0, window_s=5)
