from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from services.postproc.offline import check_file, check_lines


def line(**fields: object) -> str:
    return json.dumps(fields, ensure_ascii=False)


GOOD = line(id="ok", question="12 × 7?", reasoning="12 × 7 = 84. So the answer is 84.", answer="84")
WRONG = line(id="bad", question="12 × 7?", reasoning="12 × 7 = 80. So the answer is 80.", answer="80")


@pytest.fixture
def make_file(tmp_path: Path):  # type: ignore[no-untyped-def]
    def make(*lines: str) -> Path:
        path = tmp_path / "in.jsonl"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    return make


def test_check_file_writes_one_result_per_trace(make_file, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out.jsonl"
    summary = check_file(make_file(GOOD, WRONG), out)
    rows = [json.loads(raw) for raw in out.read_text(encoding="utf-8").splitlines()]
    assert [(r["id"], r["verdict"]) for r in rows] == [("ok", "pass"), ("bad", "fail")]
    arithmetic, question = rows[1]["findings"]
    assert arithmetic["check"] == "arithmetic"
    assert arithmetic["message"] == "12 × 7 = 80 is wrong: 12 × 7 = 84"
    assert arithmetic["span"] == {"field": "reasoning", "start": 0, "end": 11}
    assert (arithmetic["quote"], arithmetic["expected"]) == ("12 × 7 = 80", "12 × 7 = 84")
    assert question["check"] == "question" and question["expected"] == "12 × 7 = 84"
    assert summary.verdicts == {"pass": 1, "fail": 1} and summary.errors == []


BAD_LINES = [
    pytest.param("{not json", "not valid JSON", id="not-json"),
    pytest.param(line(id="x", question="q"), "missing field 'reasoning'; missing field 'answer'", id="missing-fields"),
    pytest.param("[1, 2]", "expected a JSON object", id="not-an-object"),
    pytest.param(line(id="x", question="q", reasoning="r", answer=3), "field 'answer'", id="wrong-type"),
]


@pytest.mark.parametrize(("bad", "says"), BAD_LINES)
def test_check_file_reports_bad_line_and_checks_the_rest(make_file, tmp_path: Path, bad: str, says: str) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out.jsonl"
    summary = check_file(make_file(GOOD, bad, WRONG), out)
    assert [json.loads(raw)["id"] for raw in out.read_text(encoding="utf-8").splitlines()] == ["ok", "bad"]
    (error,) = summary.errors
    assert error.line == 2
    assert says in str(error) and str(error).startswith("line 2: ")


def test_check_lines_skips_blank_lines_and_ignores_extra_fields() -> None:
    out = io.StringIO()
    extra = line(id=7, question="What is 1 + 1?", reasoning="1 + 1 = 2", answer="2", label="correct", kind="none")
    summary = check_lines(["", extra, "   "], out)
    assert json.loads(out.getvalue()) == {"id": 7, "verdict": "pass", "findings": []}
    assert summary.checked == 1 and summary.errors == []


def test_check_lines_uses_finish_reason_for_completeness() -> None:
    out = io.StringIO()
    cut = line(
        id="cut", question="q", reasoning="Let me think", answer="", finish_reason="length", reasoning_end="length"
    )
    check_lines([cut], out)
    result = json.loads(out.getvalue())
    assert result["verdict"] == "fail"
    assert {f["check"] for f in result["findings"]} == {"answer_present", "reasoning_closed"}


def test_check_file_missing_input_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        check_file(tmp_path / "nope.jsonl", tmp_path / "out.jsonl")
