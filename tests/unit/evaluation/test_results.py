from __future__ import annotations

import pytest

from services.evaluation.results import QuestionRecord, summarize, wilson
from tests.unit.evaluation.conftest import MakeRecord


def test_summarize_counts_accuracy_over_every_question(records: list[QuestionRecord]) -> None:
    s = summarize(records)
    assert (s.questions, s.answered, s.errors, s.correct) == (5, 4, 1, 2)
    assert s.accuracy == pytest.approx(2 / 5)
    assert s.accuracy_by_lang == pytest.approx({"en": 1 / 2, "zh": 1 / 3})


def test_summarize_rates_verdicts_over_checked_answers(records: list[QuestionRecord]) -> None:
    s = summarize(records)
    assert s.verdicts == {"pass": 2, "fail": 1, "unsure": 1}
    assert (s.pass_rate, s.fail_rate, s.unsure_rate) == pytest.approx((0.5, 0.25, 0.25))
    assert s.correct_when_pass == pytest.approx(0.5)


def test_summarize_averages_timings_over_answered_questions_only(records: list[QuestionRecord]) -> None:
    s = summarize(records)
    assert s.mean_ttft_ms == pytest.approx(250.0)
    assert s.mean_total_ms == pytest.approx(3000.0)
    assert s.mean_tokens_per_s == pytest.approx(50.0)
    assert (s.mean_reasoning_tokens, s.mean_answer_tokens) == pytest.approx((40.0, 10.0))


def test_summarize_without_any_pass_has_no_pass_precision(make_record: MakeRecord) -> None:
    s = summarize([make_record(verdict="fail"), make_record(status="failed", verdict=None)])
    assert s.correct_when_pass is None
    assert s.answered == 1 and s.fail_rate == 1.0


@pytest.mark.parametrize(
    ("correct", "n", "low", "high"),
    [
        pytest.param(0, 10, 0.0, 0.2775, id="none-right-still-has-an-upper-bound"),
        pytest.param(5, 10, 0.2366, 0.7634, id="half"),
        pytest.param(10, 10, 0.7225, 1.0, id="all-right-still-has-a-lower-bound"),
        pytest.param(0, 0, 0.0, 1.0, id="no-questions-says-nothing"),
    ],
)
def test_wilson_interval_matches_the_formula(correct: int, n: int, low: float, high: float) -> None:
    assert wilson(correct, n) == pytest.approx((low, high), abs=1e-4)


def test_summarize_reports_accuracy_per_rung_with_intervals(make_record: MakeRecord) -> None:
    records = [
        make_record(id="a", rung="1-one-step", correct=True),
        make_record(id="b", rung="1-one-step", correct=False),
        make_record(id="c", rung="2-two-step", correct=False),
        make_record(id="d", rung=None, correct=True),
    ]
    s = summarize(records)
    assert set(s.accuracy_by_rung) == {"1-one-step", "2-two-step"}
    one = s.accuracy_by_rung["1-one-step"]
    assert (one.correct, one.n, one.rate) == (1, 2, 0.5)
    assert (one.low, one.high) == pytest.approx(wilson(1, 2))
    assert s.accuracy_ci is not None and (s.accuracy_ci.correct, s.accuracy_ci.n) == (2, 4)
