"""`thinkstream ask` prints the model's text and the findings literally, whatever brackets they hold."""

from __future__ import annotations

import argparse
import json
import os
import signal
from collections.abc import Iterator
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


def test_ask_ctrl_backslash_while_thinking_asks_for_the_answer_now(capsys: pytest.CaptureFixture[str]) -> None:
    """The terminal sends SIGQUIT for Ctrl-\\: ask asks the gateway to end the reasoning, and
    stays to print the answer that follows."""
    controls: list[dict[str, object]] = []
    events = [
        {"type": "reasoning", "text": "Let me count "},
        {"type": "reasoning", "text": "slowly"},
        {"type": "answer", "text": "7"},
        {"type": "done", "result": DONE_RESULT},
    ]

    def body() -> Iterator[bytes]:
        for index, event in enumerate(events):
            yield f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()
            if index == 0:
                os.kill(os.getpid(), signal.SIGQUIT)  # pressed while the model reasons

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/jobs/j1/control":
            controls.append(json.loads(request.content))
            return httpx.Response(202, json={"id": "j1", "action": "end_reasoning", "status": "running"})
        if request.method == "POST":
            return httpx.Response(202, json={"id": "j1", "events_url": "/v1/jobs/j1/events"})
        return httpx.Response(200, content=body(), headers={"content-type": "text/event-stream"})

    before = signal.getsignal(signal.SIGQUIT)
    assert ask(args(), transport=httpx.MockTransport(handle)) == 0
    assert controls == [{"action": "end_reasoning"}]
    out = capsys.readouterr().out
    assert "Ctrl-\\ to stop thinking" in out and "stopping the thinking: the answer follows" in out
    assert out.index("stopping the thinking") < out.index("Answer") and "7" in out[out.index("Answer") :]
    assert signal.getsignal(signal.SIGQUIT) == before  # Ctrl-\ quits again after ask
