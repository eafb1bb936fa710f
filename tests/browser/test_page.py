"""The page at `/`, driven in headless Chromium against a real stack and the real model.

A few tests script the job's event stream (Playwright answers `/v1/jobs` itself) because the
tiny test model cannot be made to produce a given finding, list or error on demand; the page
they drive is still the one the gateway serves.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Locator, Page, Route, expect

from services.store.jobs import JobStore
from services.store.queues import Origin
from services.store.records import NewJob
from shared.eventlog import stamp
from shared.schemas import (
    AnswerEvent,
    ChatMessage,
    CheckEvent,
    CheckReport,
    DoneEvent,
    ErrorEvent,
    EventBase,
    Finding,
    GenerationParams,
    InferenceResult,
    JobSpec,
    QueuedEvent,
    ReasoningEvent,
    ResumedEvent,
    RetryEvent,
    Span,
    StartedEvent,
    Timings,
    Usage,
)
from shared.settings import Settings
from tests.browser.conftest import OpenPage
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

FINISH_TIMEOUT_MS = 90_000
LONG_JOB = "max_tokens=3000&max_reasoning_tokens=2900"
XSS = "<img src=x onerror=window.__pwned=1>"


def ask(page: Page, question: str) -> str:
    """Type a question, press Enter, and return the id of the job the page submitted."""
    page.fill("#question", question)
    with page.expect_response(lambda r: r.url.endswith("/v1/jobs") and r.request.method == "POST") as info:
        page.press("#question", "Enter")
    return str(info.value.json()["id"])


def last_turn(page: Page) -> Locator:
    return page.locator(".turn").last


# Records every state of the open "thinking" panel, however briefly it is shown.
WATCH_THINKING = """
window.__thinking = [];
new MutationObserver(() => {
  const panel = document.querySelector(".turn:last-of-type .reasoning.thinking");
  if (!panel || panel.hidden || !panel.open) return;
  window.__thinking.push({
    summary: panel.querySelector(".summary-text").textContent,
    steps: panel.querySelectorAll(".step").length,
    meta: panel.querySelector(".step-meta")?.textContent ?? "",
  });
}).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
"""


def wait_phase(turn: Locator, phase: str) -> None:
    expect(turn).to_have_attribute("data-phase", phase, timeout=FINISH_TIMEOUT_MS)


def job(stack: Stack, job_id: str) -> dict[str, object]:
    response = httpx.get(f"{stack.url}/v1/jobs/{job_id}", timeout=5.0)
    response.raise_for_status()
    return dict(response.json())


def summary_tokens(turn: Locator) -> int:
    match = re.search(r"(\d+) tokens?", turn.locator(".summary-text").inner_text())
    return int(match.group(1)) if match else 0


# ---------------------------------------------------------------------------------------------
# Serving


def test_page_served_with_content_types(stack: Stack) -> None:
    expected = {"/": "text/html", "/static/app.js": "text/javascript", "/static/style.css": "text/css"}
    for path, media_type in expected.items():
        response = httpx.get(f"{stack.url}{path}")
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith(media_type)
        assert "script-src 'self'" in response.headers["content-security-policy"]
    assert httpx.get(f"{stack.url}/static/missing.js").status_code == 404
    assert httpx.get(f"{stack.url}/static/..%2Fapp.py").status_code == 404
    schema_paths = httpx.get(f"{stack.url}/openapi.json").json()["paths"]
    assert "/" not in schema_paths
    assert not [path for path in schema_paths if path.startswith("/static")]


# ---------------------------------------------------------------------------------------------
# The real model


def test_page_streams_steps_then_answer_and_timings(open_page: OpenPage, stack: Stack, screenshots: Path) -> None:
    page = open_page()
    page.evaluate(WATCH_THINKING)
    job_id = ask(page, "What is 12 times 4? Think step by step.")
    turn = last_turn(page)

    expect(turn.locator(".user-text")).to_have_text("What is 12 times 4? Think step by step.")
    wait_phase(turn, "done")
    # The model may think for only a fraction of a second, so the page recorded what it showed.
    frames = page.evaluate("window.__thinking")
    server = job(stack, job_id)
    timings = server["timings"]
    assert isinstance(timings, dict)
    # Headless Chromium paints rarely: only a short reasoning (under 1.5 s) may go unseen.
    assert frames or timings["reasoning_ms"] < 1500, f"the page never showed the thinking state: {timings}"
    assert all(frame["summary"].startswith("Thinking · ") for frame in frames)
    # A quick model may finish thinking between two frames; every step shown live is well formed.
    step_meta = r"\d+ tokens? · \d+(\.\d)? s"
    live = [frame["meta"] for frame in frames if frame["steps"] >= 1]
    assert not live or any(re.fullmatch(step_meta, meta) for meta in live), frames

    reasoning = turn.locator(".reasoning")
    expect(reasoning).not_to_have_attribute("open", "")
    usage = server["usage"]
    assert isinstance(usage, dict)
    expect(reasoning.locator(".summary-text")).to_have_text(
        re.compile(rf"^Thought for \d+(\.\d)? s · {usage['reasoning_tokens']} tokens")
    )
    # Every reasoning token is counted in exactly one step.
    metas = turn.locator(".step-meta").all_text_contents()
    assert metas and all(re.fullmatch(step_meta, meta) for meta in metas), metas
    counts = [int(text.split()[0]) for text in metas]
    assert sum(counts) == usage["reasoning_tokens"]
    assert " ".join(turn.locator(".step-text").all_text_contents()).split() == str(server["reasoning"]).split()

    assert server["answer"], "the test needs a model that answers within max_tokens"
    expect(turn.locator(".answer")).to_be_visible()
    expect(turn.locator(".timings")).to_have_text(
        re.compile(r"^Queue \d+(\.\d)? s · First token \d+(\.\d)? s · Total \d+(\.\d)? s · \d+\.\d tokens/s$")
    )
    expect(turn.locator(".badge")).to_have_text(re.compile("Checks passed|Checks failed|Not verified"))

    reasoning.locator("summary").click()
    expect(reasoning).to_have_attribute("open", "")
    expect(page.locator("#send")).to_be_visible()
    page.screenshot(path=str(screenshots / "answer-desktop.png"), full_page=True)


def test_page_enter_sends_and_shift_enter_adds_a_line(open_page: OpenPage) -> None:
    page = open_page()
    page.fill("#question", "first line")
    page.press("#question", "Shift+Enter")
    page.keyboard.type("second line")
    expect(page.locator("#question")).to_have_value("first line\nsecond line")
    expect(page.locator(".turn")).to_have_count(0)
    page.press("#question", "Enter")
    expect(page.locator(".user-text")).to_have_text("first line\nsecond line")
    expect(page.locator("#question")).to_have_value("")
    wait_phase(last_turn(page), "done")


def test_page_without_keys_never_asks_for_one(open_page: OpenPage) -> None:
    page = open_page("max_tokens=60&max_reasoning_tokens=30")
    with page.expect_request(lambda r: r.url.endswith("/v1/jobs") and r.method == "POST") as info:
        page.fill("#question", "Name a colour.")
        page.press("#question", "Enter")
    wait_phase(last_turn(page), "done")
    assert "authorization" not in info.value.all_headers()
    expect(page.locator("#key-form")).to_be_hidden()
    expect(page.locator("#key")).to_be_hidden()


def test_page_sends_earlier_turns_without_reasoning(open_page: OpenPage, stack: Stack) -> None:
    page = open_page()
    first_id = ask(page, "Name a prime number.")
    wait_phase(last_turn(page), "done")
    first = job(stack, first_id)

    with page.expect_request(lambda r: r.url.endswith("/v1/jobs") and r.method == "POST") as info:
        page.fill("#question", "Name another one.")
        page.press("#question", "Enter")
    messages = json.loads(info.value.post_data or "{}")["messages"]
    assert messages == [
        {"role": "user", "content": "Name a prime number."},
        {"role": "assistant", "content": first["answer"]},
        {"role": "user", "content": "Name another one."},
    ]
    wait_phase(last_turn(page), "done")
    expect(page.locator(".turn")).to_have_count(2)


def test_page_copy_puts_answer_and_reasoning_on_clipboard(open_page: OpenPage, stack: Stack) -> None:
    page = open_page()
    job_id = ask(page, "What colour is the sky?")
    turn = last_turn(page)
    wait_phase(turn, "done")
    server = job(stack, job_id)

    turn.locator(".copy-answer").click()
    expect(turn.locator(".copy-answer")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == server["answer"]
    turn.locator(".copy-reasoning").click()
    assert page.evaluate("navigator.clipboard.readText()") == server["reasoning"]


def test_page_clear_forgets_the_conversation(open_page: OpenPage) -> None:
    page = open_page()
    ask(page, "What is 1 + 1?")
    wait_phase(last_turn(page), "done")

    page.click("#clear")
    expect(page.locator(".turn")).to_have_count(0)
    expect(page.locator("#empty")).to_be_visible()

    with page.expect_request(lambda r: r.url.endswith("/v1/jobs") and r.method == "POST") as info:
        page.fill("#question", "What is 2 + 2?")
        page.press("#question", "Enter")
    assert len(json.loads(info.value.post_data or "{}")["messages"]) == 1
    wait_phase(last_turn(page), "done")


def test_page_shows_xss_payload_as_text(open_page: OpenPage) -> None:
    page = open_page()
    question = f"{XSS} What is 2 + 2?"
    ask(page, question)
    turn = last_turn(page)
    wait_phase(turn, "done")
    expect(turn.locator(".user-text")).to_have_text(question)
    expect(page.locator(".turn img")).to_have_count(0)
    assert page.evaluate("window.__pwned") is None


def test_page_at_phone_width_in_dark_mode(open_page: OpenPage, screenshots: Path) -> None:
    page = open_page(viewport={"width": 390, "height": 844}, color_scheme="dark")
    ask(page, "Why is the sea salty?")
    turn = last_turn(page)
    wait_phase(turn, "done")
    turn.locator(".reasoning summary").click()

    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(21, 23, 26)"
    page.screenshot(path=str(screenshots / "answer-phone-dark.png"), full_page=True)


# ---------------------------------------------------------------------------------------------
# Scripted streams: findings, rendering and errors the model cannot be made to produce


SCRIPTED_ID = "f" * 32
REASONING_TOKENS = [
    "First", " multiply", " 7", " by", " 8", ".", "\n",
    "1", ".", " 7", "*", "8", " =", " 54", "\n",
    "Wait", ",", " 7", "*", "8", " =", " 56", ".", "\n\n",
    "So", " 56", ".",
]  # fmt: skip
ANSWER = f"The answer is **56**.\n\n- one <b>bold</b>\n- two\n\n```\nx = 7 * 8\nprint(x)\n```\nUse `x < y`. {XSS}"


def _script(tail: list[EventBase]) -> list[EventBase]:
    t0 = 1_700_000_000.0
    events: list[EventBase] = [QueuedEvent(seq=1, ts=t0, position=0), StartedEvent(seq=2, ts=t0 + 0.2, worker="w1")]
    for index, text in enumerate(REASONING_TOKENS):
        events.append(ReasoningEvent(seq=len(events) + 1, ts=t0 + 0.5 + index / 10, text=text, tokens=1))
    for item in tail:
        events.append(item.model_copy(update={"seq": len(events) + 1}))
    return events


def _finished(report: CheckReport) -> list[EventBase]:
    t_answer = 1_700_000_000.0 + 3.2
    chunks = [ANSWER[i : i + 6] for i in range(0, len(ANSWER), 6)]
    answer: list[EventBase] = [
        AnswerEvent(seq=0, ts=t_answer + i / 100, text=text, tokens=1) for i, text in enumerate(chunks)
    ]
    result = InferenceResult(
        finish_reason="stop",
        reasoning_end="model",
        usage=Usage(prompt_tokens=20, reasoning_tokens=len(REASONING_TOKENS), answer_tokens=len(chunks)),
        timings=Timings(queued_ms=200, prompt_ms=300, ttft_ms=500, reasoning_ms=2600, total_ms=3500, tokens_per_s=9.5),
    )
    return [
        *answer,
        CheckEvent(seq=0, ts=t_answer + 1, report=report),
        DoneEvent(seq=0, ts=t_answer + 1, result=result),
    ]


def serve_script(page: Page, events: list[EventBase]) -> None:
    body = "".join(f"id: {e.seq}\nevent: {e.type}\ndata: {e.model_dump_json()}\n\n" for e in events)  # type: ignore[attr-defined]

    def jobs(route: Route) -> None:
        accepted = {
            "id": SCRIPTED_ID,
            "status": "queued",
            "events_url": f"/v1/jobs/{SCRIPTED_ID}/events",
            "prompt_tokens": 20,
            "queue_position": 0,
        }
        route.fulfill(status=202, json=accepted)

    page.route("**/v1/jobs", jobs)
    page.route(
        f"**/v1/jobs/{SCRIPTED_ID}/events",
        lambda route: route.fulfill(status=200, headers={"Content-Type": "text/event-stream"}, body=body),
    )


def test_page_links_findings_to_steps_and_spans(open_page: OpenPage, screenshots: Path) -> None:
    reasoning = "".join(REASONING_TOKENS)
    wrong = reasoning.index("54")
    code = ANSWER.index("print(x)")
    report = CheckReport(
        verdict="fail",
        findings=[
            Finding(
                check="arithmetic",
                severity="error",
                message="7 × 8 is 56, not 54.",
                span=Span(field="reasoning", start=wrong, end=wrong + 2),
            ),
            Finding(
                check="code",
                severity="info",
                message="The code prints the product.",
                span=Span(field="answer", start=code, end=code + len("print(x)")),
            ),
        ],
        checks_run=["arithmetic", "code"],
    )
    page = open_page()
    serve_script(page, _script(_finished(report)))
    ask(page, "What is 7 times 8?")
    turn = last_turn(page)
    wait_phase(turn, "done")

    expect(turn.locator(".step-text")).to_have_text(
        ["First multiply 7 by 8.", "1. 7*8 = 54", "Wait, 7*8 = 56.", "So 56."]
    )
    expect(turn.locator(".step-meta")).to_have_text(
        ["7 tokens · 0.6 s", "8 tokens · 0.8 s", "9 tokens · 0.9 s", "3 tokens · 0.3 s"]
    )
    expect(turn.locator(".summary-text")).to_have_text("Thought for 2.6 s · 27 tokens")
    expect(turn.locator(".step").nth(1)).to_have_class(re.compile(r"\bflagged\b.*\bsev-error\b"))
    expect(turn.locator(".badge")).to_have_text("✗ Checks failed")
    expect(turn.locator(".timings")).to_have_text("Queue 0.2 s · First token 0.5 s · Total 3.5 s · 9.5 tokens/s")

    turn.get_by_role("button", name="Show in step 2").click()
    expect(turn.locator(".reasoning")).to_have_attribute("open", "")
    expect(turn.locator(".step").nth(1).locator("mark")).to_have_text("54")
    page.screenshot(path=str(screenshots / "findings-desktop.png"), full_page=True)

    turn.get_by_role("button", name="Show in answer").click()
    expect(turn.locator(".answer pre mark")).to_have_text("print(x)")
    expect(turn.locator(".step mark")).to_have_count(0)

    answer = turn.locator(".answer")
    expect(answer.locator("strong")).to_have_text("56")
    expect(answer.locator("ul > li")).to_have_text(["one <b>bold</b>", "two"])
    expect(answer.locator("pre code")).to_have_text("x = 7 * 8\nprint(x)")
    expect(answer.locator("p code")).to_have_text("x < y")
    expect(answer).to_contain_text(XSS)
    expect(answer.locator("img, b")).to_have_count(0)
    assert page.evaluate("window.__pwned") is None


def test_page_goes_on_with_a_resumed_job_where_it_was(open_page: OpenPage, stack: Stack, tmp_path: Path) -> None:
    """A job whose worker died goes on from its last streamed token on another worker: the page
    says so while it waits and keeps the text it has, and the rest is appended to it. The events
    are written into the real stack's Redis by hand, at the pace the test chooses."""
    redis = stack.redis.client()
    settings = Settings(redis_url=stack.redis.url, data_dir=tmp_path)
    store = JobStore(redis, settings)
    job_id = uuid.uuid4().hex
    spec = JobSpec(
        job_id=job_id,
        messages=[ChatMessage(role="user", content="What is 7 times 8?")],
        params=GenerationParams(),
        prompt_tokens=12,
        max_tokens=64,
        max_reasoning_tokens=48,
        created_at=time.time(),
    )
    # Stored but never queued: no worker takes it.
    store.submit([NewJob(spec, runs=False)], owner=None, origin=Origin.INTERACTIVE, pool=settings.catalog[0].name)
    writer = store.writer(job_id, 0)
    page = open_page()
    page.route(
        "**/v1/jobs",
        lambda route: route.fulfill(
            status=202,
            json={
                "id": job_id,
                "status": "queued",
                "events_url": f"/v1/jobs/{job_id}/events",
                "prompt_tokens": 12,
                "queue_position": 0,
            },
        ),
    )
    ask(page, "What is 7 times 8?")
    turn = last_turn(page)
    writer.emit(stamp(StartedEvent, worker="w1"))
    writer.emit(stamp(ReasoningEvent, text="First multiply 7 by 8.\n\n1. 7*8 =", tokens=12))
    expect(turn.locator(".step-text").first).to_have_text("First multiply 7 by 8.")
    writer.emit(stamp(RetryEvent, attempt=2, reason="worker w1 stopped responding"))
    writer.emit(stamp(QueuedEvent, position=0, eta_s=1.0))  # a queue update while it waits again
    wait_phase(turn, "queued")
    expect(turn.locator(".step-text").first).to_have_text("First multiply 7 by 8.")
    writer.emit(stamp(ResumedEvent, worker="w2", attempt=2, tokens_kept=12))
    expect(turn.locator(".status")).to_have_text(
        "Going on from where it stopped on another worker (attempt 2, 12 tokens kept)"
    )
    wait_phase(turn, "thinking")
    expect(turn.locator(".step-text").first).to_have_text("First multiply 7 by 8.")
    writer.emit(stamp(ReasoningEvent, text=" 56.\n\nSo 56.", tokens=6))
    writer.emit(stamp(AnswerEvent, text="The answer is", tokens=3))
    wait_phase(turn, "answering")
    # Lost again, mid-answer: it waits as queued, then goes on answering.
    writer.emit(stamp(RetryEvent, attempt=3, reason="worker w2 stopped responding"))
    writer.emit(stamp(QueuedEvent, position=0, eta_s=1.0))
    wait_phase(turn, "queued")
    writer.emit(stamp(ResumedEvent, worker="w3", attempt=3, tokens_kept=21))
    wait_phase(turn, "answering")
    writer.emit(stamp(AnswerEvent, text=" **56**.", tokens=2))
    usage = Usage(reasoning_tokens=18, answer_tokens=5)
    result = InferenceResult(finish_reason="stop", reasoning_end="model", usage=usage, timings=Timings())
    writer.emit(stamp(DoneEvent, result=result))
    wait_phase(turn, "done")
    expect(turn.locator(".step-text")).to_have_text(["First multiply 7 by 8.", "1. 7*8 = 56.", "So 56."])
    expect(turn.locator(".answer strong")).to_have_text("56")
    redis.close()


def test_page_reconnects_to_the_stream_with_growing_pauses(open_page: OpenPage) -> None:
    page = open_page()
    serve_script(page, _script(_finished(CheckReport(verdict="pass", findings=[], checks_run=["arithmetic"]))))
    attempts: list[float] = []

    def unreachable_twice(route: Route) -> None:
        attempts.append(time.monotonic())
        if len(attempts) <= 2:
            route.abort("connectionrefused")
        else:
            route.fallback()  # to the scripted stream

    page.route(f"**/v1/jobs/{SCRIPTED_ID}/events", unreachable_twice)
    ask(page, "What is 7 times 8?")
    turn = last_turn(page)
    expect(turn.locator(".status")).to_have_text("Connection lost, reconnecting…")
    wait_phase(turn, "done")
    expect(turn.locator(".status")).to_be_hidden()
    expect(turn.locator(".badge")).to_have_text("✓ Checks passed")
    assert len(attempts) == 3
    first, second = attempts[1] - attempts[0], attempts[2] - attempts[1]
    assert first >= 0.7 and second >= 1.5 and second > first, attempts  # about 1 s, then about 2 s


# The stream cut into single bytes: every line ending, a character of several bytes split, a
# keep-alive comment, an event of two data lines, and an event after the last one.
SPLIT_STREAM = (
    ": ping\r\n\r\n"
    'event: reasoning\r\ndata: {"text": "é 😀"}\r\nid: 1\r\n\r\n'
    "event: reasoning\rdata: line one\rdata: line two\rid: 2\r\r"
    "event: done\ndata:\ndata: {}\nid: 3\n\n"
    "event: reasoning\ndata: late\n\n"
)
READ_SPLIT_STREAM = """async (text) => {
  const bytes = new TextEncoder().encode(text);
  const body = new ReadableStream({
    start(controller) {
      for (const byte of bytes) controller.enqueue(new Uint8Array([byte]));
      controller.close();
    },
  });
  const fetched = window.fetch;
  window.fetch = async () => new Response(body, { headers: { "Content-Type": "text/event-stream" } });
  try {
    return await new Promise((resolve) => {
      const seen = [];
      const stream = Streams.follow("/v1/jobs/x/events", 0, {
        headers: () => ({}),
        open: () => {},
        event: (type, data) => {
          seen.push([type, data]);
          if (type === "done") {
            stream.close();
            setTimeout(() => resolve(seen), 200);
          }
        },
        dropped: () => resolve([...seen, "dropped"]),
        refused: (response) => resolve([...seen, `refused ${response.status}`]),
      });
    });
  } finally {
    window.fetch = fetched;
  }
}"""


def test_page_reads_events_split_anywhere_in_the_stream(open_page: OpenPage) -> None:
    page = open_page()
    assert page.evaluate(READ_SPLIT_STREAM, SPLIT_STREAM) == [
        ["reasoning", '{"text": "é 😀"}'],
        ["reasoning", "line one\nline two"],
        ["done", "\n{}"],
    ]


def test_page_says_when_the_queue_is_full(open_page: OpenPage) -> None:
    page = open_page()
    error = {"error": {"message": "the queue is full", "type": "server_error", "code": "queue_full"}}
    page.route("**/v1/jobs", lambda route: route.fulfill(status=429, headers={"Retry-After": "30"}, json=error))
    page.fill("#question", "Anyone there?")
    page.press("#question", "Enter")
    expect(page.locator("#banner")).to_have_text(
        "The queue is full: too many questions are waiting. Try again in 30 seconds."
    )
    expect(page.locator(".turn")).to_have_count(0)
    expect(page.locator("#question")).to_have_value("Anyone there?")


def test_page_says_when_the_gateway_is_down(open_page: OpenPage) -> None:
    page = open_page()
    page.route("**/v1/jobs", lambda route: route.abort("connectionrefused"))
    page.fill("#question", "Anyone there?")
    page.press("#question", "Enter")
    expect(page.locator("#banner")).to_contain_text("Can't reach the gateway")
    expect(page.locator("#question")).to_have_value("Anyone there?")
    expect(page.locator("#send")).to_be_visible()


def test_page_says_when_the_job_failed(open_page: OpenPage) -> None:
    page = open_page()
    failure = ErrorEvent(
        seq=0, ts=1_700_000_004.0, message="generation failed: out of memory", code="generation_failed"
    )
    serve_script(page, _script([failure]))
    ask(page, "What is 7 times 8?")
    turn = last_turn(page)
    wait_phase(turn, "failed")
    expect(turn.locator(".error")).to_have_text("The job failed: generation failed: out of memory")
    expect(page.locator("#send")).to_be_visible()


# ---------------------------------------------------------------------------------------------
# Long jobs last, so one that fails to stop delays nothing after it


def test_page_stop_cancels_a_long_job(open_page: OpenPage, stack: Stack, screenshots: Path) -> None:
    page = open_page(LONG_JOB)
    job_id = ask(page, "Write a long essay about the history of mathematics.")
    turn = last_turn(page)
    expect(turn.locator(".reasoning.thinking")).to_be_visible(timeout=FINISH_TIMEOUT_MS)
    deadline = time.monotonic() + 30
    while summary_tokens(turn) < 40 and time.monotonic() < deadline:
        page.wait_for_timeout(100)

    page.screenshot(path=str(screenshots / "thinking-desktop.png"))
    page.click("#stop")
    wait_phase(turn, "canceled")
    expect(turn.locator(".status")).to_have_text("Stopped.")
    expect(page.locator("#send")).to_be_visible()
    stopped_at = summary_tokens(turn)
    assert 40 <= stopped_at < 2900

    # The worker stopped generating: the job is over and its text no longer grows.
    assert job(stack, job_id)["status"] == "canceled"
    length = len(str(job(stack, job_id)["reasoning"]))
    page.wait_for_timeout(1000)
    assert len(str(job(stack, job_id)["reasoning"])) == length
    assert summary_tokens(turn) == stopped_at


def test_page_stop_thinking_ends_the_reasoning_and_the_answer_follows(
    open_page: OpenPage, stack: Stack, screenshots: Path
) -> None:
    page = open_page("max_tokens=300&max_reasoning_tokens=280")
    expect(page.locator("#stop-thinking")).to_be_hidden()
    job_id = ask(page, "Write a long essay about the history of mathematics.")
    turn = last_turn(page)
    expect(turn.locator(".reasoning.thinking")).to_be_visible(timeout=FINISH_TIMEOUT_MS)
    deadline = time.monotonic() + 30
    while summary_tokens(turn) < 10 and time.monotonic() < deadline:
        page.wait_for_timeout(50)

    button = page.locator("#stop-thinking")
    expect(button).to_be_visible()
    page.screenshot(path=str(screenshots / "stop-thinking-desktop.png"))
    shown_at = summary_tokens(turn)
    with page.expect_response(lambda r: r.url.endswith(f"/v1/jobs/{job_id}/control")) as info:
        button.click()
    assert info.value.status == 202
    expect(button).to_be_hidden(timeout=FINISH_TIMEOUT_MS)  # the job answers: nothing left to stop
    wait_phase(turn, "done")
    expect(turn.locator(".summary-text")).to_contain_text("stopped when you asked")
    expect(turn.locator(".answer")).not_to_be_empty()

    result = job(stack, job_id)
    assert result["reasoning_end"] == "requested"
    # The page shows tokens a little behind the worker: the reasoning ended a few tokens on.
    reasoning_tokens = result["usage"]["reasoning_tokens"]  # type: ignore[index]
    assert shown_at <= reasoning_tokens < shown_at + 30 < 280, (shown_at, reasoning_tokens)
    assert str(result["answer"]).strip()


def test_page_shows_the_wait_in_the_queue(open_page: OpenPage, stack: Stack) -> None:
    long_job = {
        "messages": [{"role": "user", "content": "List every integer from 1 to 3000."}],
        "max_tokens": 3000,
        "max_reasoning_tokens": 2900,
    }
    blocker = httpx.post(f"{stack.url}/v1/jobs", json=long_job).json()["id"]
    deadline = time.monotonic() + 30
    while job(stack, blocker)["status"] != "running" and time.monotonic() < deadline:
        time.sleep(0.1)

    page = open_page()
    ask(page, "What is 3 + 4?")
    turn = last_turn(page)
    waiting = r"^Waiting in the queue · next in line( · starts in about \d+ s| · starting any moment)? · \d+(\.\d)? s$"
    expect(turn.locator(".status")).to_have_text(re.compile(waiting))
    page.wait_for_timeout(1000)
    assert httpx.delete(f"{stack.url}/v1/jobs/{blocker}").status_code == 202
    wait_phase(turn, "done")
    queue_s = float(re.search(r"Queue (\d+(?:\.\d)?) s", turn.locator(".timings").inner_text()).group(1))  # type: ignore[union-attr]
    assert queue_s >= 1.0


def test_page_counts_down_to_the_expected_start(open_page: OpenPage, stack: Stack) -> None:
    page = open_page()
    ask(page, "Say hi.")  # a finished job: the worker's pace is known
    wait_phase(last_turn(page), "done")
    long_job = {"prompt": "List every integer from 1 to 3000.", "max_tokens": 3000, "max_reasoning_tokens": 2900}
    blocker = httpx.post(f"{stack.url}/v1/jobs", json=long_job).json()["id"]
    deadline = time.monotonic() + 30
    while job(stack, blocker)["status"] != "running" and time.monotonic() < deadline:
        time.sleep(0.1)

    ask(page, "What is 3 + 4?")
    status = last_turn(page).locator(".status")
    countdown = re.compile(r"starts in about (\d+) s")
    expect(status).to_have_text(countdown, timeout=5000)  # the gateway's first update, within a second
    first = int(countdown.search(status.inner_text()).group(1))  # type: ignore[union-attr]
    page.wait_for_timeout(2500)
    later = int(countdown.search(status.inner_text()).group(1))  # type: ignore[union-attr]
    assert first > 3 and later < first, (first, later)
    assert httpx.delete(f"{stack.url}/v1/jobs/{blocker}").status_code == 202
    wait_phase(last_turn(page), "done")
