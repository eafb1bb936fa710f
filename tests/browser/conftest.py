"""Headless Chromium (Debian's package, driven by Playwright) on the page a real stack serves."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.support.stack import Stack

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1100, "height": 900}

OpenPage = Callable[..., Page]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("the browser tests need Debian's chromium: apt-get install -y chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def open_page(browser: Browser, stack: Stack) -> Iterator[OpenPage]:
    """Factory: a fresh browser context on one of the stack's pages (`path`, the main one unless
    given), with the clipboard allowed. Fails the test if the page threw or logged an error, such
    as a CSP violation. (A refused request also logs one, and some tests refuse requests on
    purpose, so those are let through.)"""
    contexts: list[BrowserContext] = []
    problems: list[str] = []

    def factory(query: str = "max_tokens=200&max_reasoning_tokens=120", path: str = "/", **options: object) -> Page:
        context = browser.new_context(
            base_url=stack.url,
            viewport=options.pop("viewport", DESKTOP),  # type: ignore[arg-type]
            permissions=["clipboard-read", "clipboard-write"],
            **options,  # type: ignore[arg-type]
        )
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
        page.on("console", lambda msg: _console_problem(msg.type, msg.text, problems))
        page.goto(f"{path}?{query}" if query else path)
        return page

    yield factory
    for context in contexts:
        context.close()
    assert not problems, problems


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


def _console_problem(kind: str, text: str, problems: list[str]) -> None:
    if kind == "error" and not text.startswith("Failed to load resource"):
        problems.append(f"console: {text}")
