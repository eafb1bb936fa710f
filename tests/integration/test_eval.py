"""`thinkstream eval` against the real stack and the embedded model, on the ladder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.cli.main import main
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

RUNGS = {"1-one-step", "2-two-step", "3-one-equation", "4-multi-step"}


def test_eval_runs_the_ladder_and_writes_json_and_chart_with_intervals(
    stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output, chart = tmp_path / "results.json", tmp_path / "results.png"
    # The ladder's first 8 questions are one per rung and language.
    argv = ["eval", "--url", stack.url, "--limit", "8", "--modes", "plain", "--max-tokens", "32"]
    assert main([*argv, "-o", str(output), "--chart", str(chart)]) == 0

    (plain,) = json.loads(output.read_text())["modes"]
    assert plain["name"] == "plain" and plain["available"]
    records = plain["records"]
    assert len(records) == 8 and {r["rung"] for r in records} == RUNGS
    for record in records:
        assert record["status"] == "succeeded", record
        assert record["verdict"] in ("pass", "fail", "unsure")
        assert 0 < record["ttft_ms"] <= record["total_ms"]
        assert record["reasoning_tokens"] + record["answer_tokens"] <= 32
    summary = plain["summary"]
    assert set(summary["accuracy_by_rung"]) == RUNGS
    for cell in summary["accuracy_by_rung"].values():
        assert cell["n"] == 2 and 0 <= cell["low"] <= cell["rate"] <= cell["high"] <= 1
        assert cell["high"] - cell["low"] > 0.3  # two questions say little, and the interval shows it
    assert sum(c["correct"] for c in summary["accuracy_by_rung"].values()) == summary["correct"]
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = capsys.readouterr().out
    assert "│ plain" in out and "accuracy per rung" in out and "1-one-step" in out
