from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.cli.main import main


def test_cli_check_writes_verdicts_and_reports_bad_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(
        '{"id": "wrong", "question": "12 times 7?", "reasoning": "12 × 7 = 80", "answer": "80"}\n'
        "not json\n"
        '{"id": "right", "question": "3 plus 4?", "reasoning": "3 + 4 = 7", "answer": "7"}\n'
    )
    target = tmp_path / "out.jsonl"
    assert main(["check", str(source), "-o", str(target)]) == 1
    rows = {row["id"]: row for row in map(json.loads, target.read_text().splitlines())}
    assert rows["wrong"]["verdict"] == "fail"
    assert rows["wrong"]["findings"][0]["span"] == {"field": "reasoning", "start": 0, "end": 11}
    assert rows["right"]["verdict"] == "pass"
    assert "line 2" in capsys.readouterr().err


def test_cli_check_missing_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(tmp_path / "nope.jsonl")]) == 2
    assert "no such file" in capsys.readouterr().err
