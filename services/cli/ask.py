"""`thinkstream ask`: a terminal client that streams one answer.

While the model reasons, Ctrl-\\ (SIGQUIT) asks the gateway to end the reasoning now
(`POST /v1/jobs/{id}/control`) and the answer follows; Ctrl-C still quits.

Model text, finding messages and check names are printed literally (`markup=False` or as `Text`):
rich would otherwise read `[structural]` as a style tag and drop it, and crash on a model that
writes `[/x]`. Only this module's own fixed strings carry markup."""

from __future__ import annotations

import argparse
import json

import httpx
from httpx_sse import connect_sse
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from services.cli.gateway_client import auth_headers, refusal
from services.cli.interrupts import ctrl_backslash
from services.cli.queue_wait import QueueWait


def ask(args: argparse.Namespace, transport: httpx.BaseTransport | None = None) -> int:
    """Stream one answer; `transport` replaces the network (tests)."""
    console = Console(highlight=False, emoji=False)
    body: dict[str, object] = {"prompt": args.question}
    for key in ("max_tokens", "max_reasoning_tokens", "temperature", "seed"):
        if getattr(args, key) is not None:
            body[key] = getattr(args, key)
    timeout = httpx.Timeout(10.0, read=None)
    with httpx.Client(base_url=args.url, headers=auth_headers(args), timeout=timeout, transport=transport) as client:
        try:
            response = client.post("/v1/jobs", json=body)
        except httpx.ConnectError:
            console.print(Text(f"cannot reach the gateway at {args.url}; is `thinkstream up` running?", style="red"))
            return 1
        if response.status_code != 202:
            console.print(f"[red]{escape(refusal(response))}[/red]")
            return 1
        job = response.json()
        section = None
        waiting = QueueWait(console)
        with ctrl_backslash() as stop_thinking, connect_sse(client, "GET", job["events_url"]) as source:
            for sse in source.iter_sse():
                if stop_thinking.take() and section in (None, "reasoning"):
                    _end_reasoning(client, console, job["id"])
                if not sse.data:  # a keep-alive comment while the job waits
                    continue
                event = json.loads(sse.data)
                kind = event["type"]
                if kind == "queued":
                    waiting.update(event["position"], event.get("eta_s"))
                    continue
                waiting.stop()
                if kind in ("reasoning", "answer") and section != kind:
                    section = kind
                    if kind == "answer":
                        console.print("\n[bold]Answer[/bold]")
                    else:
                        hint = " (Ctrl-\\ to stop thinking and answer)" if stop_thinking.available else ""
                        console.print(Text(f"Thinking…{hint}", style="dim"))
                if kind == "reasoning":
                    console.print(event["text"], style="dim", end="", markup=False)
                elif kind == "answer":
                    console.print(event["text"], end="", markup=False)
                elif kind == "check":
                    _print_check(console, event["report"])
                elif kind == "done":
                    _print_done(console, event["result"])
                elif kind == "error":
                    console.print(Text(f"\nerror: {event['message']}", style="red"))
                    return 1
                elif kind == "canceled":
                    console.print("\n[yellow]canceled[/yellow]")
                    return 1
    return 0


def _end_reasoning(client: httpx.Client, console: Console, job_id: str) -> None:
    """Ctrl-\\ was pressed: ask for the answer now. The reasoning may have ended meanwhile (409)."""
    response = client.post(f"/v1/jobs/{job_id}/control", json={"action": "end_reasoning"})
    if response.status_code == 202:
        console.print(Text("\n[stopping the thinking: the answer follows]", style="yellow"))
    elif response.status_code != 409:
        console.print(Text(f"\ncould not stop the thinking: {refusal(response)}", style="red"))


def _print_check(console: Console, report: dict[str, object]) -> None:
    colour = {"pass": "green", "fail": "red", "unsure": "yellow"}[str(report["verdict"])]
    console.print(Text.assemble("\n\ncheck: ", (str(report["verdict"]), colour)))
    for finding in report["findings"]:  # type: ignore[attr-defined]
        console.print(Text(f"  - {finding['severity']} [{finding['check']}] {finding['message']}"))


def _print_done(console: Console, result: dict[str, object]) -> None:
    t, u = result["timings"], result["usage"]
    console.print(
        f"[dim]queued {t['queued_ms']:.0f} ms · first token {t['ttft_ms']:.0f} ms · total {t['total_ms']:.0f} ms"  # type: ignore[index]
        f" · {t['tokens_per_s']:.1f} tokens/s · {u['reasoning_tokens']} reasoning + {u['answer_tokens']} answer tokens"  # type: ignore[index]
        f" · finish: {result['finish_reason']}[/dim]"
    )
