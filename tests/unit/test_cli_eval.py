from __future__ import annotations

from pathlib import Path

import pytest

from services.cli.main import main
from services.runtime.redis_server import free_port


def test_cli_eval_unknown_mode_lists_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--modes", "plain,beam"]) == 2
    assert "no mode named 'beam'; known modes: plain, samples, revise" in capsys.readouterr().err


def test_cli_eval_missing_question_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--questions", str(tmp_path / "nope.jsonl")]) == 2
    assert "no such question file" in capsys.readouterr().err


def test_cli_eval_without_a_gateway_says_so_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["eval", "--url", url, "--modes", "plain", "-o", str(tmp_path / "r.json")]) == 1
    assert "cannot reach the gateway" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
