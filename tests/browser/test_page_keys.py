"""The page at `/` on a stack with API keys, in headless Chromium and on the real model: it loads
without a key, asks for one when the gateway refuses a request, keeps it across reloads, and
follows the job's stream with the key in a header (EventSource could not send one)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Locator, Page, Request, Route, expect

from shared.apikeys import key_entry, new_key
from tests.browser.conftest import OpenPage
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

KEY = new_key()
FINISH_TIMEOUT_MS = 90_000
NEEDED = "This gateway needs an API key. Enter yours to continue; the gateway's operator can give you one."
REFUSED = "The API key was not accepted. Check it for typos, or ask the gateway's operator for a new one."
MALFORMED = "That is not an API key: a key has no spaces or special characters. Check what you pasted."
FORGOTTEN = "The key is forgotten: this page sends none until you enter one."


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """This module's own stack, with one API key; `open_page` serves the page from it."""
    env = {"THINKSTREAM_API_KEY_HASHES": key_entry("browser", KEY)}
    with Stack(Path(tmp_path_factory.mktemp("keyed-page")), env=env) as running:
        yield running


def is_submit(request: Request) -> bool:
    return request.url.endswith("/v1/jobs") and request.method == "POST"


def ask(page: Page, question: str, expect_status: int) -> None:
    page.fill("#question", question)
    with page.expect_response(lambda response: is_submit(response.request)) as info:
        page.press("#question", "Enter")
    assert info.value.status == expect_status


def save_key(page: Page, key: str, expect_status: int) -> None:
    page.fill("#key-input", key)
    with page.expect_response(lambda response: is_submit(response.request)) as info:
        page.press("#key-input", "Enter")
    assert info.value.status == expect_status


def last_turn(page: Page) -> Locator:
    return page.locator(".turn").last


def wait_phase(turn: Locator, phase: str) -> None:
    expect(turn).to_have_attribute("data-phase", phase, timeout=FINISH_TIMEOUT_MS)


def job(stack: Stack, job_id: str) -> dict[str, object]:
    response = httpx.get(f"{stack.url}/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {KEY}"}, timeout=5.0)
    response.raise_for_status()
    return dict(response.json())


def expect_prompt(page: Page, message: str, question: str) -> None:
    """The key form is open with `message`, and the question is back in the box, unsent."""
    expect(page.locator("#key-form")).to_be_visible()
    expect(page.locator("#key-message")).to_have_text(message)
    expect(page.locator("#key-input")).to_be_focused()
    expect(page.locator("#key-input")).to_have_attribute("type", "password")
    expect(page.locator(".turn")).to_have_count(0)
    expect(page.locator("#question")).to_have_value(question)
    expect(page.locator("#banner")).to_be_hidden()


def test_page_keys_page_loads_without_a_key_and_data_does_not(stack: Stack) -> None:
    for path in ("/", "/static/app.js", "/static/key.js", "/static/stream.js", "/static/style.css"):
        assert httpx.get(f"{stack.url}{path}").status_code == 200, path
    for path in ("/v1/models", "/v1/jobs/" + "f" * 32, "/v1/jobs/" + "f" * 32 + "/events", "/metrics"):
        assert httpx.get(f"{stack.url}{path}").status_code == 401, path


def test_page_keys_asks_for_the_key_then_streams_the_answer(
    open_page: OpenPage, stack: Stack, screenshots: Path
) -> None:
    page = open_page()
    requests: list[Request] = []
    page.on("request", lambda request: requests.append(request))
    expect(page.locator("#key-form")).to_be_hidden()
    expect(page.locator("#key")).to_be_hidden()

    question = "What is 6 times 7? Think step by step."
    ask(page, question, 401)
    expect_prompt(page, NEEDED, question)
    page.screenshot(path=str(screenshots / "key-prompt-desktop.png"))

    save_key(page, KEY, 202)
    expect(page.locator("#key-form")).to_be_hidden()
    turn = last_turn(page)
    expect(turn.locator(".user-text")).to_have_text(question)
    wait_phase(turn, "done")
    expect(page.locator("#question")).to_have_value("")

    submits = [r for r in requests if is_submit(r)]
    job_id = str(submits[-1].response().json()["id"])  # type: ignore[union-attr]
    server = job(stack, job_id)
    assert server["status"] == "succeeded"
    assert " ".join(turn.locator(".step-text").all_text_contents()).split() == str(server["reasoning"]).split()
    assert server["answer"], "the test needs a model that answers within max_tokens"
    expect(turn.locator(".answer")).to_be_visible()
    expect(turn.locator(".timings")).to_have_text(re.compile(r"^Queue .* tokens/s$"))

    # The key went in a header on every request after it was saved, and never into an address.
    streams = [r for r in requests if r.url.endswith(f"/v1/jobs/{job_id}/events")]
    assert streams
    for request in [submits[-1], *streams]:
        assert request.all_headers().get("authorization") == f"Bearer {KEY}", request.url
    assert "authorization" not in submits[0].all_headers()
    assert not [r.url for r in requests if KEY in r.url]
    expect(page.locator("#key")).to_be_visible()


def test_page_keys_refuses_a_wrong_key_with_a_clear_message(open_page: OpenPage) -> None:
    page = open_page()
    question = "What is 2 + 2?"
    ask(page, question, 401)
    expect_prompt(page, NEEDED, question)

    page.fill("#key-input", "two words")
    page.press("#key-input", "Enter")
    expect(page.locator("#key-message")).to_have_text(MALFORMED)

    save_key(page, "ts-not-a-key", 401)
    expect_prompt(page, REFUSED, question)
    expect(page.locator("#key-input")).to_have_value("")
    expect(page.locator("#key-forget")).to_be_hidden()

    # A refused key is not kept: after a reload the page asks again instead of sending it.
    page.reload()
    ask(page, question, 401)
    expect_prompt(page, NEEDED, question)


def test_page_keys_keeps_the_key_across_reloads_until_forgotten(open_page: OpenPage) -> None:
    page = open_page("max_tokens=60&max_reasoning_tokens=30")
    ask(page, "Name a colour.", 401)
    save_key(page, KEY, 202)
    wait_phase(last_turn(page), "done")

    page.reload()
    expect(page.locator("#key")).to_be_visible()
    ask(page, "Name a fruit.", 202)
    wait_phase(last_turn(page), "done")
    expect(page.locator("#key-form")).to_be_hidden()

    page.click("#key")
    expect(page.locator("#key-form")).to_be_visible()
    page.click("#key-forget")
    expect(page.locator("#key-message")).to_have_text(FORGOTTEN)
    expect(page.locator("#key-forget")).to_be_hidden()
    page.click("#key-close")
    expect(page.locator("#key-form")).to_be_hidden()

    page.reload()
    expect(page.locator("#key")).to_be_hidden()
    ask(page, "Name a tree.", 401)
    expect_prompt(page, NEEDED, "Name a tree.")


def test_page_keys_resume_a_dropped_stream_after_the_last_event(open_page: OpenPage, stack: Stack) -> None:
    """The first connection to the job's events is cut in the middle of the reasoning, in the
    middle of an event; the page reconnects after a pause, with the key and Last-Event-ID, and the
    gateway sends the rest."""
    page = open_page()
    cut: dict[str, object] = {}
    resumed: list[Request] = []

    def events(route: Route) -> None:
        if cut:
            cut.setdefault("resumed_at", time.monotonic())
            resumed.append(route.request)
            route.continue_()
            return
        full = route.fetch(timeout=FINISH_TIMEOUT_MS).text()  # the whole stream, to its last event
        blocks = [block for block in full.split("\n\n") if block.strip()]
        reasoning = [i for i, block in enumerate(blocks) if "event: reasoning" in block]
        assert len(reasoning) >= 2, f"the test needs a longer reasoning: {full[:500]}"
        keep = reasoning[len(reasoning) // 2 - 1]
        last_id = re.search(r"^id: (\d+)$", blocks[keep], re.MULTILINE)
        assert last_id is not None, blocks[keep]
        cut.update(seq=last_id.group(1), at=time.monotonic())
        # Whole events, a keep-alive comment, then half an event (its id but no blank line after).
        body = "".join(f"{block}\n\n" for block in blocks[: keep + 1]) + ": ping\n\n" + blocks[keep + 1] + "\n"
        route.fulfill(status=200, headers={"Content-Type": "text/event-stream"}, body=body)

    page.route("**/v1/jobs/*/events", events)
    ask(page, "What is 9 times 8? Think step by step.", 401)
    save_key(page, KEY, 202)
    turn = last_turn(page)
    expect(turn.locator(".status")).to_have_text("Connection lost, reconnecting…", timeout=FINISH_TIMEOUT_MS)
    wait_phase(turn, "done")

    (request,) = resumed
    headers = request.all_headers()
    assert headers.get("last-event-id") == cut["seq"]
    assert headers.get("authorization") == f"Bearer {KEY}"
    assert float(cut["resumed_at"]) - float(cut["at"]) >= 0.5, "reconnected without a pause"  # type: ignore[arg-type]
    job_id = request.url.split("/v1/jobs/")[1].split("/")[0]
    server = job(stack, job_id)
    # Nothing missing and nothing twice: the page shows exactly the job's reasoning.
    assert " ".join(turn.locator(".step-text").all_text_contents()).split() == str(server["reasoning"]).split()
    expect(turn.locator(".status")).to_be_hidden()


def test_page_keys_prompt_fits_a_phone_in_dark_mode(open_page: OpenPage, screenshots: Path) -> None:
    page = open_page(viewport={"width": 390, "height": 844}, color_scheme="dark")
    ask(page, "Why is the sea salty?", 401)
    expect_prompt(page, NEEDED, "Why is the sea salty?")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(screenshots / "key-prompt-phone-dark.png"))
