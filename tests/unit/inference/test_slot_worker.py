"""The slot count a worker picks when THINKSTREAM_SLOTS is 0."""

from __future__ import annotations

import pytest

from services.inference.slot_worker import default_slots


@pytest.mark.parametrize(
    ("cores", "n_ctx", "slots"),
    [
        (2, 4096, 4),  # two per core
        (1, 4096, 2),
        (16, 2048, 8),  # at most 8
        (8, 8192, 2),  # at most 16k tokens of context in all
        (2, 32768, 1),  # a long context: one job at a time
    ],
)
def test_slot_worker_default_slots_from_cores_and_context(cores: int, n_ctx: int, slots: int) -> None:
    assert default_slots(cores, n_ctx) == slots
