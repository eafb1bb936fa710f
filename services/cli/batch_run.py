"""The work of `thinkstream batch`: submit, follow with a progress bar, write, summarise."""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass, field

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TaskID, TextColumn
from rich.table import Table

from services.cli.gateway_client import auth_headers, refusal
from services.cli.interrupts import ctrl_c_deferred
from services.cli.result_file import ResultFile
from shared.batch_api import NDJSON_MEDIA_TYPES, Batch, BatchResultLine, BatchResultsPage, InputLine, parse_batch_input
from shared.chat_api import ChatCompletion

EXIT_INTERRUPTED = 130


class BatchCommandError(Exception):
    """Something the user must fix; the message says what."""


@dataclass
class RunStats:
    """What this run did, for the progress bar and the summary."""

    started: float = field(default_factory=time.monotonic)
    answered: list[BatchResultLine] = field(default_factory=list)
    failed: int = 0

    @property
    def done(self) -> int:
        return len(self.answered) + self.failed

    def rate_per_min(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.done / elapsed * 60 if elapsed > 0 else 0.0


def run(args: argparse.Namespace) -> int:
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        return BatchRun(args, console).run()
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/yellow]")
        return EXIT_INTERRUPTED
    except BatchCommandError as exc:
        console.print(f"[red]thinkstream batch: {exc}[/red]")
        return 1 if not isinstance(exc.__cause__, FileNotFoundError) else 2


class BatchRun:
    def __init__(self, args: argparse.Namespace, console: Console) -> None:
        self._args = args
        self._console = console
        self._out = ResultFile(args.output)
        self._marker = args.output.with_name(args.output.name + ".batch")
        self._stats = RunStats()
        self._wanted: set[str] = set()

    def run(self) -> int:
        data, lines = self._read_input()
        self._wanted = {line.request.custom_id for line in lines}
        before = len(self._wanted & self._out.ids)
        with httpx.Client(base_url=self._args.url, headers=auth_headers(self._args), timeout=60.0) as client:
            try:
                if (access := client.get("/v1/models")).status_code != 200:  # the key, before any work
                    raise BatchCommandError(f"the gateway refused the request ({refusal(access)})")
                with self._progress(len(lines), before) as (progress, task):
                    interrupted = self._resume(client, progress, task)
                    missing = [line for line in lines if line.request.custom_id not in self._out.ids]
                    if missing and not interrupted:
                        batch_id = self._submit(client, data, missing, before)
                        interrupted = self._follow_or_cancel(client, batch_id, progress, task)
            except httpx.ConnectError as exc:
                raise BatchCommandError(f"cannot reach the gateway at {self._args.url}; is it running?") from exc
            except httpx.HTTPError as exc:
                raise BatchCommandError(f"the gateway failed: {exc}") from exc
        self._summary(len(lines), before)
        if interrupted:
            return EXIT_INTERRUPTED
        return 1 if self._stats.failed or self._wanted - self._out.ids else 0

    def _read_input(self) -> tuple[bytes, list[InputLine]]:
        try:
            data = self._args.input.read_bytes()
        except FileNotFoundError as exc:
            raise BatchCommandError(f"no such file: {self._args.input}") from exc
        lines, errors = parse_batch_input(data)
        if errors:
            for error in errors:
                where = f"{self._args.input}:{error.line}" if error.line else str(self._args.input)
                self._console.print(f"[red]{where}: {error.message}[/red]")
            raise BatchCommandError(f"{len(errors)} problem(s) in {self._args.input}; nothing was sent")
        return data, lines

    def _resume(self, client: httpx.Client, progress: Progress, task: TaskID) -> bool:
        """Follow the batch an earlier run left running, if the gateway still has it."""
        if not self._marker.exists():
            return False
        batch_id = self._marker.read_text().strip()
        if client.get(f"/v1/batches/{batch_id}").status_code == 404:
            self._marker.unlink()
            return False
        progress.console.print(f"picking up batch {batch_id} left by an earlier run")
        return self._follow_or_cancel(client, batch_id, progress, task)

    def _submit(self, client: httpx.Client, data: bytes, missing: list[InputLine], before: int) -> str:
        raw = data.decode("utf-8-sig").split("\n")
        body = "".join(raw[line.line - 1].strip() + "\n" for line in missing).encode()
        response = client.post("/v1/batches", content=body, headers={"content-type": NDJSON_MEDIA_TYPES[0]})
        if response.status_code != 200:
            raise BatchCommandError(self._refusal(response, missing))
        batch = Batch.model_validate(response.json())
        self._marker.write_text(batch.id + "\n")
        already = f" ({before} already in {self._args.output})" if before else ""
        self._console.print(f"batch {batch.id}: {len(missing)} request(s) submitted{already}")
        return batch.id

    def _refusal(self, response: httpx.Response, missing: list[InputLine]) -> str:
        try:
            error = response.json()["error"]
        except (ValueError, KeyError):
            return f"the gateway answered {response.status_code}: {response.text[:200]}"
        for problem in error.get("errors", []):
            # The gateway numbers the lines it was sent; name the line of the user's file.
            line = missing[problem["line"] - 1].line if problem.get("line") else None
            where = f"{self._args.input}:{line}" if line else str(self._args.input)
            self._console.print(f"[red]{where}: {problem['message']}[/red]")
        return f"the gateway refused the batch ({response.status_code}): {error['message']}"

    def _follow_or_cancel(self, client: httpx.Client, batch_id: str, progress: Progress, task: TaskID) -> bool:
        """Follow the batch to its end; True if Ctrl-C cancelled it on the way."""
        try:
            self._follow(client, batch_id, progress, task)
            return False
        except KeyboardInterrupt:
            progress.console.print("[yellow]interrupted: cancelling the batch (answers so far are kept)[/yellow]")
            client.post(f"/v1/batches/{batch_id}/cancel")
            self._follow(client, batch_id, progress, task)  # a second Ctrl-C leaves it to the next run
            return True

    def _follow(self, client: httpx.Client, batch_id: str, progress: Progress, task: TaskID) -> Batch:
        after = 0
        while True:
            response = client.get(f"/v1/batches/{batch_id}/results", params={"after": after})
            response.raise_for_status()
            page = BatchResultsPage.model_validate(response.json())
            for line in page.data:
                self._record(line)
            after = page.next_after
            self._show(progress, task, page.batch)
            if page.batch.is_final:  # every result was collected before the batch became final
                self._marker.unlink(missing_ok=True)
                return page.batch
            time.sleep(self._args.poll_s)

    def _record(self, line: BatchResultLine) -> None:
        if line.custom_id not in self._wanted:
            return
        if line.outcome in ("cancelled", "expired"):
            return  # not written: the next run asks it again
        # Cut between writing a line and noting it, the line would be written again.
        with ctrl_c_deferred():
            if self._out.append(line):
                if line.outcome == "completed":
                    self._stats.answered.append(line)
                else:
                    self._stats.failed += 1

    def _progress(self, total: int, before: int) -> _ProgressContext:
        return _ProgressContext(self._console, total, before)

    def _show(self, progress: Progress, task: TaskID, batch: Batch) -> None:
        stats = self._stats
        rate = stats.rate_per_min()
        remaining = len(self._wanted) - len(self._wanted & self._out.ids)
        eta = _duration(remaining / rate * 60) if rate > 0 and remaining else "–"
        progress.update(
            task,
            completed=len(self._wanted & self._out.ids),
            failed=stats.failed,
            rate=f"{rate:.1f}/min" if stats.done else "–/min",
            eta=eta,
            status=batch.status,
        )

    def _summary(self, total: int, before: int) -> None:
        stats = self._stats
        elapsed = time.monotonic() - stats.started
        verdicts: dict[str, int] = {}
        for line in self._out.lines.values():
            body = line.response.body if line.response else None
            if line.custom_id in self._wanted and isinstance(body, ChatCompletion) and body.check is not None:
                verdicts[body.check.verdict] = verdicts.get(body.check.verdict, 0) + 1
        generation_s = [
            (body.timings.total_ms - body.timings.queue_ms) / 1000
            for line in stats.answered
            if line.response is not None and isinstance(body := line.response.body, ChatCompletion)
        ]
        table = Table(title=f"thinkstream batch → {self._args.output}", show_header=False)
        table.add_column(style="bold")
        table.add_column(justify="right")
        table.add_row("requests in input", str(total))
        table.add_row("already answered before this run", str(before))
        table.add_row("answered now", str(len(stats.answered)))
        table.add_row("failed now", str(stats.failed))
        table.add_row("not answered yet (cancelled)", str(len(self._wanted - self._out.ids)))
        verdict_text = " · ".join(f"{name} {verdicts.get(name, 0)}" for name in ("pass", "fail", "unsure"))
        table.add_row("check verdicts (whole output)", verdict_text)
        mean = f"{statistics.fmean(generation_s):.1f} s" if generation_s else "–"
        table.add_row("mean time per question (generation)", mean)
        table.add_row("rate", f"{stats.rate_per_min():.1f} questions/min" if stats.done else "–")
        table.add_row("total time", _duration(elapsed))
        Console(highlight=False).print(table)
        if self._out.unreadable:
            lines = ", ".join(map(str, self._out.unreadable[:10]))
            self._console.print(f"[yellow]{self._args.output}: line(s) {lines} are not result lines[/yellow]")


class _ProgressContext:
    """The live bar: answered / total, failed, rate, time left, and the batch's status."""

    def __init__(self, console: Console, total: int, before: int) -> None:
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.fields[status]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("failed {task.fields[failed]}"),
            TextColumn("{task.fields[rate]}"),
            TextColumn("ETA {task.fields[eta]}"),
            console=console,
            transient=False,
        )
        self._total = total
        self._before = before

    def __enter__(self) -> tuple[Progress, TaskID]:
        self._progress.start()
        task = self._progress.add_task(
            "batch",
            total=self._total,
            completed=self._before,
            failed=0,
            rate="–/min",
            eta="–",
            status="starting",
        )
        return self._progress, task

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()


def _duration(seconds: float) -> str:
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
