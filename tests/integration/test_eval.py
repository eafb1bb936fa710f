"""`thinkstream eval` against the real stack and the embedded model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.cli.main import main
from tests.support.stack import Stack

pytestmark = pytest.mark.integration


def test_eval_runs_questions_through_the_stack_and_writes_json_and_chart(
    stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output, chart = tmp_path / "results.json", tmp_path / "results.png"
    argv = ["eval", "--url", stack.url, "--limit", "3", "--modes", "plain", "--max-tokens", "96"]
    assert main([*argv, "-o", str(output), "--chart", str(chart)]) == 0

    (plain,) = json.loads(output.read_text())["modes"]
    assert plain["name"] == "plain" and plain["available"]
    records = plain["records"]
    assert len(records) == 3
    for record in records:
        assert record["status"] == "succeeded", record
        assert record["verdict"] in ("pass", "fail", "unsure")
        assert 0 < record["ttft_ms"] <= record["total_ms"]
        assert record["tokens_per_s"] > 0
        assert record["reasoning_tokens"] + record["answer_tokens"] <= 96
    assert plain["summary"]["questions"] == 3
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "│ plain" in capsys.readouterr().out
