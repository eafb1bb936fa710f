"""`thinkstream ask` prints the model's text and the findings literally, whatever brackets they hold."""

from __future__ import annotations

import argparse
import json
from typing import Any

import httpx
import pytest

from services.cli.ask import ask

REPORT = {
    "verdict": "fail",
    "findings": [
        {"check": "agreement", "severity": "error", "message": "The answer says 7 but the reasoning concluded 11"},
        {"check": "structural", "severity": "warning", "message": "closed by [bold]the server[/bold]"},
    ],
}
DONE_RESULT = {
    "timings": {"queued_ms": 1.0, "ttft_ms": 2.0, "total_ms": 3.0, "tokens_per_s": 40.0},
    "usage": {"reasoning_tokens": 5, "answer_tokens": 3},
    "finish_reason": "stop",
}


def transport(events: list[dict[str, Any]]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(202, json={"id": "j1", "events_url": "/v1/jobs/j1/events"})
        body = "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events)
        return httpx.Response(200, text=body, headers={"content-type": "text/event-stream"})

    return httpx.MockTransport(handle)


def args() -> argparse.Namespace:
    return argparse.Namespace(
        question="What is 3 + 4? [7]",
        url="http://gateway.test",
        api_key=None,
        max_tokens=None,
        max_reasoning_tokens=None,
        temperature=None,
        seed=None,
    )


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("[/x] closes nothing", id="closing-tag"),
        pytest.param("[bold]not bold[/bold] and [red]", id="style-tags"),
        pytest.param("[link=http://x]y[/link] :smile:", id="link-and-emoji-code"),
    ],
)
def test_ask_prints_model_text_and_finding_tags_literally(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    events = [
        {"type": "reasoning", "text": f"Thinking {text}. The answer is 11."},
        {"type": "answer", "text": f"3 + 4 = 7 {text}"},
        {"type": "check", "report": REPORT},
        {"type": "done", "result": DONE_RESULT},
    ]
    assert ask(args(), transport=transport(events)) == 0
    out = capsys.readouterr().out
    assert f"Thinking {text}. The answer is 11." in out
    assert f"3 + 4 = 7 {text}" in out
    assert "check: fail" in out
    assert "- error [agreement] The answer says 7 but the reasoning concluded 11" in out
    assert "- warning [structural] closed by [bold]the server[/bold]" in out


def test_ask_prints_an_error_event_literally(capsys: pytest.CaptureFixture[str]) -> None:
    events = [{"type": "error", "message": "model wrote [/oops]", "code": "x"}]
    assert ask(args(), transport=transport(events)) == 1
    assert "error: model wrote [/oops]" in capsys.readouterr().out
