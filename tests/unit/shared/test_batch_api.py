"""The batch input parser: both line forms, and every problem reported by its line number."""

from __future__ import annotations

import json

import pytest

from shared.batch_api import (
    MAX_REPORTED_ERRORS,
    BatchMarks,
    BatchResultLine,
    describe_errors,
    parse_batch_input,
)


def request_line(custom_id: str, content: str = "What is 2 + 2?", **body: object) -> str:
    return json.dumps(
        {
            "custom_id": custom_id,
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"messages": [{"role": "user", "content": content}], **body},
        }
    )


def test_parse_both_forms_and_skip_blank_lines() -> None:
    data = "\n".join(
        [
            request_line("a", max_tokens=50, thinking_budget_tokens=20),
            "",
            json.dumps({"custom_id": "b", "question": "Is 7 prime?", "max_tokens": 40}),
            "   ",
        ]
    ).encode()
    lines, errors = parse_batch_input(data)
    assert errors == []
    assert [(line.line, line.request.custom_id) for line in lines] == [(1, "a"), (3, "b")]
    first, second = (line.request.body.job_request() for line in lines)
    assert (first.max_tokens, first.max_reasoning_tokens) == (50, 20)
    assert second.max_tokens == 40 and second.chat()[0].content == "Is 7 prime?"


@pytest.mark.parametrize(
    ("line", "code", "param", "words"),
    [
        ("{not json", "invalid_json", None, "not JSON"),
        ("[1, 2]", "invalid_request", None, "JSON object"),
        (json.dumps({"custom_id": "x"}), "invalid_request", None, "give a 'question', or OpenAI's"),
        (json.dumps({"custom_id": "x", "method": "GET", "url": "/v1/chat/completions", "body": {}}), "invalid_request",
         "method", "'POST'"),
        (request_line("x").replace("/v1/chat/completions", "/v1/embeddings"), "invalid_request", "url",
         "/v1/chat/completions"),
        (request_line("x", stream=True), "invalid_request", "body", "stream is not supported"),
        (request_line("x", n=3), "invalid_request", "body.n", "only n=1"),
        (request_line("x", "   "), "invalid_request", "body", "empty"),
        (json.dumps({"custom_id": "", "question": "hi"}), "invalid_request", "custom_id", "at least 1"),
        (json.dumps({"custom_id": "x", "question": "hi", "top_k": 3}), "invalid_request", "top_k", "Extra inputs"),
    ],
)  # fmt: skip
def test_parse_reports_the_line_number_and_the_field(line: str, code: str, param: str | None, words: str) -> None:
    data = f"{request_line('ok')}\n\n{line}\n".encode()
    lines, errors = parse_batch_input(data)
    assert [line.request.custom_id for line in lines] == ["ok"]
    assert len(errors) == 1, errors
    error = errors[0]
    assert (error.line, error.code, error.param) == (3, code, param)
    assert words in error.message


def test_parse_duplicate_custom_id_names_the_first_line() -> None:
    data = "\n".join([request_line("a"), request_line("b"), request_line("a")]).encode()
    _, errors = parse_batch_input(data)
    assert [(e.line, e.code) for e in errors] == [(3, "duplicate_custom_id")]
    assert "line 1" in errors[0].message


def test_parse_whole_file_problems_have_no_line() -> None:
    assert [e.code for e in parse_batch_input(b"\n\n")[1]] == ["empty_file"]
    assert [e.code for e in parse_batch_input(b"\xff\xfe{")[1]] == ["invalid_file"]
    data = "\n".join(request_line(str(i)) for i in range(4)).encode()
    _, errors = parse_batch_input(data, max_lines=3)
    assert errors[0].code == "too_many_requests" and errors[0].line is None
    assert "4 requests" in errors[0].message and "at most 3" in errors[0].message


def test_parse_caps_the_reported_problems() -> None:
    data = "\n".join(["{"] * (MAX_REPORTED_ERRORS + 7)).encode()
    _, errors = parse_batch_input(data)
    assert len(errors) == MAX_REPORTED_ERRORS + 1
    assert errors[-1].code == "more_errors" and "7 more" in errors[-1].message
    assert "line 1: not JSON" in describe_errors(errors)


def test_batch_status_follows_the_latest_mark() -> None:
    assert BatchMarks().status == "validating"
    assert BatchMarks(in_progress_at=1).status == "in_progress"
    assert BatchMarks(in_progress_at=1, cancelling_at=2).status == "cancelling"
    assert BatchMarks(in_progress_at=1, cancelling_at=2, finalizing_at=3).status == "finalizing"
    assert BatchMarks(in_progress_at=1, cancelling_at=2, finalizing_at=3, cancelled_at=4).status == "cancelled"
    assert BatchMarks(in_progress_at=1, finalizing_at=3, completed_at=4).status == "completed"
    assert BatchMarks(failed_at=1).status == "failed"


def test_result_line_outcome() -> None:
    ok = {"status_code": 200, "request_id": "j", "body": {"error": {"message": "m", "type": "t", "code": "c"}}}
    assert BatchResultLine(id="r", custom_id="a", response=ok).outcome == "completed"  # type: ignore[arg-type]
    failed = {**ok, "status_code": 500}
    assert BatchResultLine(id="r", custom_id="a", response=failed).outcome == "failed"  # type: ignore[arg-type]
    cancelled = {"code": "batch_cancelled", "message": "m"}
    assert BatchResultLine(id="r", custom_id="a", error=cancelled).outcome == "cancelled"  # type: ignore[arg-type]
