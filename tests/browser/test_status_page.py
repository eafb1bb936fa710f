"""The operators' page at /status in headless Chromium, on a real stack with API keys and the real
model: it asks for an operator's key (a tenant's is refused, with the reason), then shows the
worker busy on a real generation with its tokens/s, the job in flight and the two waiting behind
it, and the plot of the last minutes filling in; everything it loads comes from the gateway."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from shared.apikeys import key_entry, new_key
from shared.status_api import JobInFlight, ModelStatus, StatusReport, StatusSample, WorkerStatus
from tests.browser.conftest import OpenPage
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

OPS, TENANT = new_key(), new_key()
TIMEOUT_MS = 90_000
NEEDED = "This gateway needs an API key. Enter yours to continue; the gateway's operator can give you one."
NOT_OPERATOR = (
    "This API key may not read the cluster's status: it is not an operator's key. Enter an operator's key "
    "(the gateway's operator lists their names in THINKSTREAM_OPERATOR_KEYS)."
)
LONG_JOB = {
    "prompt": "List every integer from 1 to 3000.",
    "max_tokens": 3000,
    "max_reasoning_tokens": 2900,
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """This module's own stack: an operator's key and a tenant's, a point of history a second."""
    env = {
        "THINKSTREAM_API_KEY_HASHES": f"{key_entry('ops', OPS)},{key_entry('alice', TENANT)}",
        "THINKSTREAM_OPERATOR_KEYS": '["ops"]',
        "THINKSTREAM_STATUS_SAMPLE_INTERVAL_S": "1",
    }
    with Stack(Path(tmp_path_factory.mktemp("status-page")), env=env) as running:
        yield running


def enter_key(page: Page, key: str, expect_status: int) -> None:
    page.fill("#key-input", key)
    with page.expect_response(lambda r: r.url.endswith("/v1/status")) as info:
        page.press("#key-input", "Enter")
    assert info.value.status == expect_status


def submit(stack: Stack) -> str:
    response = httpx.post(
        f"{stack.url}/v1/jobs", json=LONG_JOB, headers={"Authorization": f"Bearer {TENANT}"}, timeout=10
    )
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def cancel(stack: Stack, job_id: str) -> None:
    httpx.delete(f"{stack.url}/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {TENANT}"}, timeout=10)


def running_job(stack: Stack, job_ids: list[str]) -> str:
    for job_id in job_ids:
        response = httpx.get(f"{stack.url}/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {TENANT}"})
        if response.json()["status"] == "running":
            return job_id
    raise AssertionError("none of the jobs is running")


def test_status_page_asks_for_an_operators_key(open_page: OpenPage) -> None:
    page = open_page(query="", path="/status")
    expect(page.locator("#key-form")).to_be_visible()
    expect(page.locator("#key-message")).to_have_text(NEEDED)

    enter_key(page, TENANT, 403)
    expect(page.locator("#key-message")).to_have_text(NOT_OPERATOR)
    expect(page.locator("#banner")).to_have_text(re.compile("not an operator's key"))
    expect(page.locator("#workers tbody tr")).to_have_count(0)

    enter_key(page, OPS, 200)
    expect(page.locator("#key-form")).to_be_hidden()
    expect(page.locator("#banner")).to_be_hidden()
    expect(page.locator("#overview")).to_have_attribute("aria-busy", "false")
    expect(page.locator("#workers tbody tr")).to_have_count(1)


def test_status_page_shows_a_busy_worker_its_jobs_and_the_last_minutes(
    open_page: OpenPage, stack: Stack, screenshots: Path
) -> None:
    page = open_page(query="", path="/status")
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    enter_key(page, OPS, 200)
    model = httpx.get(f"{stack.url}/v1/models", headers={"Authorization": f"Bearer {OPS}"}).json()["data"][0]["id"]
    job_ids = [submit(stack) for _ in range(3)]
    try:
        worker = page.locator("#workers tbody tr").first
        expect(worker.locator("td.slots")).to_have_attribute("data-busy", "1", timeout=TIMEOUT_MS)
        expect(worker.locator("td").nth(0)).to_have_text(model)
        expect(worker.locator("td.slots")).to_have_text(re.compile(r"1 / 1$"))
        # Its tokens/s, measured by the worker over the last second: a real generation's.
        expect(worker.locator("td.rate")).to_have_text(re.compile(r"^[1-9][0-9.k]*$"), timeout=TIMEOUT_MS)

        running = running_job(stack, job_ids)
        job = page.locator("#jobs tbody tr")
        expect(job).to_have_count(1)
        expect(job).to_have_attribute("data-job", running)
        expect(job.locator("td").nth(4)).to_have_text("alice")  # the key that sent it
        queue = page.locator(f'#queues tbody tr[data-model="{model}"]')
        expect(queue.locator("td").nth(1)).to_have_text("2")  # normal: the two behind it
        expect(page.locator("#now-running")).to_have_text("1")
        expect(page.locator("#now-waiting")).to_have_text("2")

        # The plot fills in, a point a second, with the throughput and the two waiting.
        throughput, depth = page.locator("#plot-throughput"), page.locator("#plot-queue")
        page.wait_for_function(
            "() => Number(document.querySelector('#plot-throughput').dataset.last) > 0"
            " && Number(document.querySelector('#plot-queue').dataset.points) >= 3",
            timeout=TIMEOUT_MS,
        )
        expect(depth).to_have_attribute("data-last", "2")
        expect(throughput.locator("svg path.line")).to_have_count(1)
        expect(throughput.locator("svg")).to_have_attribute("aria-label", re.compile(r"tokens/s now, peak"))
        page.screenshot(path=str(screenshots / "status-desktop.png"), full_page=True)
    finally:
        for job_id in job_ids:
            cancel(stack, job_id)

    # The page follows: the worker is idle again, nothing in flight or waiting.
    expect(page.locator("#workers tbody tr").first.locator("td.slots")).to_have_attribute(
        "data-busy", "0", timeout=TIMEOUT_MS
    )
    expect(page.locator("#no-jobs")).to_be_visible()
    expect(page.locator("#now-waiting")).to_have_text("0")
    # Nothing came from anywhere but the gateway: the page works on an intranet without internet.
    assert requests and all(url.startswith(f"{stack.url}/") for url in requests), requests


def test_status_page_at_phone_width_in_dark_mode(open_page: OpenPage, screenshots: Path) -> None:
    page = open_page(query="", path="/status", viewport={"width": 390, "height": 844}, color_scheme="dark")
    enter_key(page, OPS, 200)
    expect(page.locator("#workers tbody tr")).to_have_count(1)
    expect(page.locator("#plot-throughput svg")).to_be_visible()

    # Wide tables scroll inside their panel; the page itself never scrolls sideways.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(21, 23, 26)"
    page.screenshot(path=str(screenshots / "status-phone-dark.png"), full_page=True)


XSS = "<img src=x onerror=window.__pwned=1>"


def scripted_report() -> StatusReport:
    """What a real stack cannot be made to show: a batching worker of 12 slots, a worker of an
    older version, names that spell HTML, a retried job, and a hole in the history."""
    now = 1_800_000_000.0
    workers = [
        WorkerStatus(
            id=f"w-{XSS}",
            model=XSS,
            adapter="sql@1",
            slots=12,
            busy=9,
            tokens_per_s=412.5,
            jobs_done=40,
            own_queue=2,
            beat_age_s=0.4,
        ),
        WorkerStatus(
            id="w-old", model=XSS, slots=1, busy=1, tokens_per_s=None, jobs_done=3, own_queue=0, beat_age_s=1.2
        ),
    ]
    model = ModelStatus(
        name=XSS,
        workers=2,
        slots=13,
        busy=10,
        running=10,
        waiting=7,
        waiting_by_priority={"high": 1, "normal": 2, "low": 4},
        tokens_per_s=412.5,
    )
    job = JobInFlight(
        id="j" * 32, model=XSS, worker=f"w-{XSS}", priority="low", origin="batch", owner=XSS, attempt=2, running_s=125.0
    )
    # Points every 5 s for the last 15 minutes, but none between 10 and 5 minutes ago.
    history = [
        StatusSample(at=now - age, tokens_per_s=300.0 + age % 50, waiting=age // 100, running=10)
        for age in range(900, -1, -5)
        if not 300 < age < 600
    ]
    return StatusReport(
        at=now,
        sample_interval_s=5,
        history_s=900,
        workers=workers,
        models=[model],
        jobs_running=130,
        jobs=[job],
        checks_waiting=3,
        checkers=2,
        history=history,
    )


def test_status_page_shows_what_a_real_stack_cannot_and_names_stay_text(open_page: OpenPage) -> None:
    page = open_page(query="", path="/status")
    body = scripted_report().model_dump_json()
    page.route("**/v1/status", lambda route: route.fulfill(status=200, content_type="application/json", body=body))
    enter_key(page, OPS, 200)

    batching = page.locator("#workers tbody tr").first
    expect(batching.locator("th")).to_have_text(f"w-{XSS}")
    expect(batching.locator("td").nth(0)).to_have_text(f"{XSS} + sql@1")
    expect(batching.locator("td.slots")).to_have_text("9 / 12")
    expect(batching.locator(".slot-fill")).to_have_count(1)  # past 8 slots: a bar, not boxes
    expect(batching.locator("td.rate")).to_have_text("412.5")
    older = page.locator("#workers tbody tr").nth(1)
    expect(older.locator("td.rate")).to_have_text("–")
    expect(older.locator(".slot.busy")).to_have_count(1)
    expect(page.locator("#now-slots")).to_have_text("10 / 13")
    expect(page.locator("#now-waiting")).to_have_text("7")
    expect(page.locator("#queues tbody tr td").nth(2)).to_have_text("4")  # low: the batch items
    expect(page.locator("#checks")).to_have_text("Answers waiting for their checks: 3 · 2 checkers alive.")

    job = page.locator("#jobs tbody tr")
    expect(job.locator("td").nth(3)).to_have_text("batch, attempt 2")
    expect(job.locator("td").nth(5)).to_have_text("2 min 5 s")
    expect(page.locator("#more-jobs")).to_have_text("129 more not listed (the longest-running are shown).")

    # The hole in the history breaks the line rather than drawing across it.
    expect(page.locator("#plot-throughput svg path.line")).to_have_count(2)
    expect(page.locator("#plot-queue")).to_have_attribute("data-peak", "9")
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#overview img").count() == 0, "names that spell HTML stay text"
