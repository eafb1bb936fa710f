from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from services.evaluation.results import QuestionRecord

MakeRecord = Callable[..., QuestionRecord]


@pytest.fixture
def make_record() -> MakeRecord:
    """A succeeded, checked record; keyword arguments override any field."""

    def make(**overrides: Any) -> QuestionRecord:
        fields: dict[str, Any] = {
            "id": "q",
            "lang": "en",
            "status": "succeeded",
            "gold": ["1"],
            "verdict": "pass",
            "ttft_ms": 100.0,
            "total_ms": 1000.0,
            "tokens_per_s": 50.0,
            "reasoning_tokens": 40,
            "answer_tokens": 10,
        }
        return QuestionRecord.model_validate(fields | overrides)

    return make


@pytest.fixture
def records(make_record: MakeRecord) -> list[QuestionRecord]:
    """Five records with known totals: 2 of 5 right (en 1/2, zh 1/3), verdicts 2 pass (one right),
    1 fail, 1 unsure, 1 error; mean TTFT 250 ms, total 3 s, 50 tokens/s over the 4 answered."""
    return [
        make_record(id="a", lang="en", correct=True, verdict="pass", ttft_ms=100, total_ms=1000, tokens_per_s=40),
        make_record(id="b", lang="en", correct=False, verdict="pass", ttft_ms=300, total_ms=3000, tokens_per_s=60),
        make_record(id="c", lang="zh", correct=True, verdict="fail", ttft_ms=200, total_ms=2000, tokens_per_s=50),
        make_record(id="d", lang="zh", correct=False, verdict="unsure", ttft_ms=400, total_ms=6000, tokens_per_s=50),
        make_record(
            id="e", lang="zh", status="error", verdict=None, error="503", ttft_ms=0, total_ms=0, tokens_per_s=0
        ),
    ]
