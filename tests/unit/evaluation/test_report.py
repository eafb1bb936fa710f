from __future__ import annotations

from pathlib import Path

from rich.console import Console

from services.evaluation.report import ladder_table, table, write_chart, write_json
from services.evaluation.results import EvalRun, ModeResult, QuestionRecord, summarize
from tests.unit.evaluation.conftest import MakeRecord


def make_run(records: list[QuestionRecord]) -> EvalRun:
    plain = ModeResult(name="plain", fields={}, records=records, summary=summarize(records))
    samples = ModeResult(
        name="samples",
        fields={"samples": 3},
        available=False,
        unavailable_reason="samples: Extra inputs are not permitted",
    )
    return EvalRun(
        url="http://gateway",
        questions_file="q.jsonl",
        started_at="2026-01-01T00:00:00+00:00",
        duration_s=12.0,
        concurrency=1,
        request={"max_tokens": 256, "max_reasoning_tokens": 192},
        modes=[plain, samples],
    )


def render(records: list[QuestionRecord]) -> list[str]:
    console = Console(record=True, width=200)
    console.print(table(make_run(records)))
    return console.export_text().splitlines()


def cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip("│ ").split("│")]


def test_table_row_shows_accuracy_verdicts_and_timings(records: list[QuestionRecord]) -> None:
    row = cells(next(line for line in render(records) if line.startswith("│ plain")))
    #       mode     n    accuracy   en     zh     pass   fail   unsure pass→right TTFT  total  tok/s   tokens   errors
    assert row == [
        "plain",
        "5",
        "40% (2)",
        "50%",
        "33%",
        "50%",
        "25%",
        "25%",
        "50%",
        "250",
        "3.0",
        "50.0",
        "40+10",
        "1",
    ]


def test_table_marks_an_unavailable_mode_and_says_why(records: list[QuestionRecord]) -> None:
    lines = render(records)
    assert cells(next(line for line in lines if line.startswith("│ samples")))[1:] == ["–"] * 13
    assert any("samples: unavailable (samples: Extra inputs are not permitted)" in line for line in lines)


def test_write_json_round_trips(tmp_path: Path, records: list[QuestionRecord]) -> None:
    path = tmp_path / "deep" / "results.json"
    write_json(make_run(records), path)
    assert EvalRun.model_validate_json(path.read_text()) == make_run(records)


def test_write_chart_writes_a_png(tmp_path: Path, records: list[QuestionRecord]) -> None:
    path = tmp_path / "chart.png"
    write_chart(make_run(records), path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_ladder_table_shows_each_rung_with_its_interval(make_record: MakeRecord) -> None:
    records = [
        make_record(id="a", rung="1-one-step", correct=True),
        make_record(id="b", rung="1-one-step", correct=True),
        make_record(id="c", rung="2-two-step", correct=False),
    ]
    ladder = ladder_table(make_run(records))
    assert ladder is not None
    console = Console(record=True, width=200)
    console.print(ladder)
    row = cells(next(line for line in console.export_text().splitlines() if line.startswith("│ plain")))
    assert row == ["plain", "100% [34%–100%] (2/2)", "0% [0%–79%] (0/1)", "67% [21%–94%] (2/3)"]


def test_ladder_table_is_absent_without_rungs(records: list[QuestionRecord]) -> None:
    assert ladder_table(make_run(records)) is None


def test_write_chart_with_rungs_writes_a_png(tmp_path: Path, make_record: MakeRecord) -> None:
    path = tmp_path / "chart.png"
    write_chart(make_run([make_record(rung="1-one-step", correct=True), make_record(rung="4-multi-step")]), path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
