"""`thinkstream batch` without a stack: input checks, errors, and the resumable output file."""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
from pathlib import Path

import pytest
from rich.console import Console

from services.cli.batch_run import BatchRun
from services.cli.main import main
from services.cli.result_file import ResultFile
from services.runtime.redis_server import free_port
from shared.batch_api import BatchResultLine


def result(custom_id: str) -> BatchResultLine:
    return BatchResultLine.model_validate(
        {"id": f"batch_req_{custom_id}", "custom_id": custom_id, "error": {"code": "c", "message": "m"}}
    )


def test_cli_batch_reports_bad_lines_of_the_users_file_and_sends_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.jsonl"
    lines = ['{"custom_id": "a", "question": "hi"}', "", '{"custom_id": "b"}', '{"custom_id": "a", "question": "x"}']
    source.write_text("\n".join(lines) + "\n")
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens: it must not get that far
    assert main(["batch", str(source), "-o", str(tmp_path / "out.jsonl"), "--url", url]) == 1
    err = capsys.readouterr().err
    assert f"{source}:3: give a 'question', or OpenAI's 'method', 'url' and 'body'" in err
    assert f"{source}:4: custom_id 'a' is already used on line 1" in err
    assert "nothing was sent" in err and not (tmp_path / "out.jsonl").exists()


def test_cli_batch_missing_input_and_no_gateway(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["batch", str(tmp_path / "nope.jsonl"), "-o", str(tmp_path / "out.jsonl")]) == 2
    assert "no such file" in capsys.readouterr().err
    source = tmp_path / "in.jsonl"
    source.write_text('{"custom_id": "a", "question": "hi"}\n')
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["batch", str(source), "-o", str(tmp_path / "out.jsonl"), "--url", url]) == 1
    assert "cannot reach the gateway" in capsys.readouterr().err


def test_result_file_appends_each_custom_id_once(tmp_path: Path) -> None:
    path = tmp_path / "out" / "results.jsonl"
    out = ResultFile(path)
    assert out.append(result("a")) and out.append(result("b")) and not out.append(result("a"))
    again = ResultFile(path)
    assert again.ids == {"a", "b"} and not again.append(result("b"))
    assert [json.loads(line)["custom_id"] for line in path.read_text().splitlines()] == ["a", "b"]


def test_result_file_drops_a_line_cut_short_by_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    whole = result("a").model_dump_json() + "\n"
    path.write_text(whole + "not a result\n" + result("b").model_dump_json()[:30])
    out = ResultFile(path)
    assert out.ids == {"a"} and out.unreadable == [2]
    assert path.read_text() == whole + "not a result\n"
    assert out.append(result("b"))
    assert ResultFile(path).ids == {"a", "b"}


def test_ctrl_c_while_a_result_is_written_neither_cuts_nor_repeats_it(tmp_path: Path) -> None:
    # Ctrl-C lands just after the line is on disk: it must still count as written, or following
    # the batch again after cancelling it (as Ctrl-C does) writes the line a second time.
    class InterruptedFile(ResultFile):
        def append(self, line: BatchResultLine) -> bool:
            written = super().append(line)
            if written:
                os.kill(os.getpid(), signal.SIGINT)
            return written

    args = argparse.Namespace(output=tmp_path / "out.jsonl")
    run = BatchRun(args, Console(file=io.StringIO()))
    run._out = InterruptedFile(args.output)
    run._wanted = {"a"}
    error = {"error": {"message": "the job failed", "type": "server_error", "code": "job_failed"}}
    failed = BatchResultLine.model_validate(
        {"id": "batch_req_a", "custom_id": "a", "response": {"status_code": 500, "request_id": "j", "body": error}}
    )
    with pytest.raises(KeyboardInterrupt):
        run._record(failed)
    run._record(failed)  # the batch followed again from its first result
    assert [json.loads(line)["custom_id"] for line in args.output.read_text().splitlines()] == ["a"]
    assert run._stats.failed == 1
