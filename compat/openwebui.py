"""Compatibility run: Open WebUI, the chat front end many intranets run, against thinkstream.

Installs Open WebUI into its own virtualenv if it is missing (about 7 GB, ten minutes), starts it
offline against a thinkstream stack (the one at `--url`, else a private one on the embedded
model) through a recording proxy, asks a question in headless Chromium (Debian's, driven by
Playwright) and asserts that the reasoning block and the answer appear. Writes a screenshot,
the timings and every request Open WebUI sent to `compat/results/`; `--fixtures DIR` also saves
the request bodies as test fixtures.

    .venv/bin/python -m compat.openwebui [--url http://127.0.0.1:8000] [--venv PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from compat.recorder import Exchange, RecordingProxy
from services.runtime.redis_server import free_port
from tests.support.stack import Stack

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "compat" / "results"
DEFAULT_VENV = Path(os.environ.get("OPENWEBUI_VENV", ROOT / ".openwebui-venv"))
QUESTION = "What is 12 + 30? Answer with the number."
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
START_TIMEOUT_S = 300.0
ANSWER_TIMEOUT_S = 180.0


def ensure_openwebui(venv: Path) -> Path:
    """The `open-webui` executable, installed into its own virtualenv first if missing."""
    executable = venv / "bin" / "open-webui"
    if executable.exists():
        return executable
    print(f"installing Open WebUI into {venv} (about 7 GB, ten minutes)...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", "open-webui"], check=True)
    return executable


def openwebui_version(venv: Path) -> str:
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import importlib.metadata as m; print(m.version('open-webui'))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() or "unknown"


class OpenWebUI:
    """Open WebUI offline, without login, with thinkstream as its only (OpenAI) connection."""

    def __init__(self, executable: Path, api_url: str, data_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = (data_dir / "openwebui.log").open("ab")
        env = {
            **os.environ,
            "WEBUI_AUTH": "False",
            "ENABLE_OLLAMA_API": "False",
            "OPENAI_API_BASE_URL": api_url,
            "OPENAI_API_KEY": "x",
            "OFFLINE_MODE": "true",
            "HF_HUB_OFFLINE": "1",
            "DATA_DIR": str(data_dir),
            "ENABLE_VERSION_UPDATE_CHECK": "False",
        }
        self._process = subprocess.Popen(
            [str(executable), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=data_dir,
        )

    def wait_ready(self) -> float:
        start = time.monotonic()
        while time.monotonic() - start < START_TIMEOUT_S:
            if self._process.poll() is not None:
                raise RuntimeError(f"Open WebUI exited with {self._process.returncode}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return time.monotonic() - start
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"Open WebUI did not answer /health within {START_TIMEOUT_S:.0f} s")

    def stop(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(20)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._log.close()


def ask(page: Page, base_url: str, model: str, question: str, screenshot: Path) -> dict[str, float]:
    """Ask in the browser; returns the moments (s after sending) the reasoning and answer showed."""
    timings: dict[str, float] = {}
    start = time.monotonic()
    page.goto(f"{base_url}/?models={model}", wait_until="domcontentloaded")
    box = page.locator("#chat-input")
    box.wait_for(timeout=60_000)
    _dismiss_dialogs(page)
    timings["page_ready_s"] = round(time.monotonic() - start, 2)
    box.click()
    page.keyboard.type(question)
    sent = time.monotonic()
    page.keyboard.press("Enter")
    # Open WebUI folds `reasoning_content` into a collapsible block ("Thinking…", then "Thought for …").
    reasoning = page.get_by_text("Thought for", exact=False).or_(page.get_by_text("Thinking", exact=False)).first
    reasoning.wait_for(timeout=ANSWER_TIMEOUT_S * 1000)
    timings["reasoning_shown_s"] = round(time.monotonic() - sent, 2)
    page.get_by_text("Thought for", exact=False).first.wait_for(timeout=ANSWER_TIMEOUT_S * 1000)
    timings["reasoning_closed_s"] = round(time.monotonic() - sent, 2)
    answer = page.locator("#response-content-container").last
    answer.wait_for(timeout=ANSWER_TIMEOUT_S * 1000)
    _wait_text(answer, timeout_s=ANSWER_TIMEOUT_S)
    timings["answer_shown_s"] = round(time.monotonic() - sent, 2)
    # Done when the message's action buttons (copy, regenerate) appear under it.
    page.locator("button.copy-response-button").last.wait_for(timeout=ANSWER_TIMEOUT_S * 1000)
    timings["reply_done_s"] = round(time.monotonic() - sent, 2)
    page.get_by_text("Thought for", exact=False).first.click()  # open the block for the screenshot
    page.wait_for_timeout(500)
    page.screenshot(path=str(screenshot), full_page=True)
    return timings


def _dismiss_dialogs(page: Page) -> None:
    """The first visit shows the release notes ("What's New"), which cover the chat box."""
    button = page.get_by_text("Okay, Let's Go!", exact=False)
    try:
        button.wait_for(timeout=10_000)
        button.click()
        button.wait_for(state="hidden", timeout=10_000)
    except PlaywrightTimeout:
        pass  # no release notes this time


def _wait_text(locator: Any, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = locator.inner_text().strip()
        if text:
            return text
        time.sleep(0.2)
    raise AssertionError("the answer stayed empty")


def task_of(exchange: Exchange) -> str:
    """What Open WebUI asked for: its helper tasks say so in their prompt."""
    body = exchange.body if isinstance(exchange.body, dict) else {}
    text = json.dumps(body.get("messages", []))
    for task, marker in (
        ("title", "title"),
        ("tags", "tags"),
        ("follow_ups", "follow"),
        ("queries", "queries"),
        ("autocomplete", "autocompletion"),
    ):
        if not body.get("stream") and marker in text.lower():
            return task
    return "chat" if body.get("stream") else "other"


def save_fixtures(exchanges: list[Exchange], directory: Path, version: str) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    saved = []
    seen: dict[str, int] = {}
    for exchange in exchanges:
        task = task_of(exchange)
        seen[task] = seen.get(task, 0) + 1
        name = task if seen[task] == 1 else f"{task}-{seen[task]}"
        path = directory / f"{name}.json"
        record = {"client": f"open-webui {version}", "path": exchange.path, "body": exchange.body}
        path.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
        saved.append(path)
    return saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running thinkstream gateway; default: start a private stack")
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="Open WebUI's own virtualenv")
    parser.add_argument("--question", default=QUESTION)
    parser.add_argument("--fixtures", type=Path, help="also save each request body Open WebUI sent here")
    parser.add_argument("--wait-tasks-s", type=float, default=180.0, help="longest wait for tag/follow-up requests")
    args = parser.parse_args(argv)
    chromium = shutil.which("chromium")
    if chromium is None:
        print("compat: needs Debian's chromium (apt-get install -y chromium)", file=sys.stderr)
        return 2
    executable = ensure_openwebui(args.venv)
    version = openwebui_version(args.venv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"openwebui": version, "question": args.question}
    with tempfile.TemporaryDirectory(prefix="thinkstream-compat-") as tmp:
        work = Path(tmp)
        stack = None
        if args.url is None:
            started = time.monotonic()
            stack = Stack(work / "stack").start()
            report["stack_start_s"] = round(time.monotonic() - started, 2)
        api = args.url or stack.url  # type: ignore[union-attr]
        model = httpx.get(f"{api}/v1/models", timeout=10).json()["data"][0]["id"]
        proxy = RecordingProxy(api).start()
        webui = OpenWebUI(executable, f"{proxy.url}/v1", work)
        try:
            report["openwebui_start_s"] = round(webui.wait_ready(), 2)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                screenshot = RESULTS / "openwebui.png"
                try:
                    report["browser"] = ask(page, webui.url, model, args.question, screenshot)
                except Exception:
                    page.screenshot(path=str(RESULTS / "openwebui-failure.png"), full_page=True)
                    raise
                report["screenshot"] = str(screenshot.relative_to(ROOT))
                report["helper_tasks_s"] = _wait_helper_tasks(proxy, args.wait_tasks_s)
                browser.close()
        finally:
            webui.stop()
            proxy.stop()
            if stack is not None:
                stack.stop()
        chats = proxy.chat_requests()
        report["requests"] = [
            {
                "task": task_of(e),
                "stream": bool(isinstance(e.body, dict) and e.body.get("stream")),
                "tools": len(e.body.get("tools") or []) if isinstance(e.body, dict) else 0,
                "max_tokens": e.body.get("max_tokens") if isinstance(e.body, dict) else None,
                "status": e.status,
                "first_byte_ms": e.first_byte_ms,
                "total_ms": e.total_ms,
            }
            for e in chats
        ]
        (RESULTS / "openwebui-requests.json").write_text(json.dumps(proxy.dump(), indent=1, ensure_ascii=False))
        if args.fixtures:
            report["fixtures"] = [str(p) for p in save_fixtures(chats, args.fixtures, version)]
    (RESULTS / "openwebui.json").write_text(json.dumps(report, indent=1))
    _print_table(report)
    failed = [r for r in report["requests"] if r["status"] != 200]
    if failed:
        print(f"compat: {len(failed)} request(s) refused: {failed}", file=sys.stderr)
        return 1
    return 0


def _wait_helper_tasks(proxy: RecordingProxy, timeout_s: float) -> float:
    """After the reply Open WebUI asks for follow-ups and tags; wait until those answered and
    nothing new came for a few seconds."""
    start = time.monotonic()
    quiet_since = time.monotonic()
    seen = len(proxy.exchanges)
    while time.monotonic() - start < timeout_s:
        time.sleep(0.5)
        pending = any(e.total_ms == 0 for e in proxy.chat_requests())
        if len(proxy.exchanges) != seen or pending:
            seen, quiet_since = len(proxy.exchanges), time.monotonic()
        elif time.monotonic() - quiet_since > 8:
            break
    return round(time.monotonic() - start, 2)


def _print_table(report: dict[str, Any]) -> None:
    print(f"\nOpen WebUI {report['openwebui']} against thinkstream")
    for key in ("stack_start_s", "openwebui_start_s"):
        if key in report:
            print(f"  {key:<22} {report[key]:>8}")
    for key, value in report.get("browser", {}).items():
        print(f"  {key:<22} {value:>8}")
    print(
        f"  {'request':<12} {'stream':<7} {'tools':>5} {'max_tokens':>10} {'status':>6} {'first byte':>11} {'total':>9}"
    )
    for r in report["requests"]:
        print(
            f"  {r['task']:<12} {r['stream']!s:<7} {r['tools']:>5} {r['max_tokens']!s:>10} {r['status']:>6}"
            f" {r['first_byte_ms']:>9.0f}ms {r['total_ms']:>7.0f}ms"
        )
    if "screenshot" in report:
        print(f"  screenshot: {report['screenshot']}")


if __name__ == "__main__":
    sys.exit(main())
