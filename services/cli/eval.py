"""`thinkstream eval`: run the question set through a live gateway; print the table, write JSON and a chart."""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services.cli.gateway_client import KEY_HINT, add_gateway_arguments, auth_headers
from services.evaluation.modes import DEFAULT_REVISE, DEFAULT_SAMPLES, MODE_NAMES
from services.evaluation.questions import DEFAULT_QUESTIONS

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from services.evaluation.results import ModeResult, QuestionRecord

DEFAULT_MAX_TOKENS = 512
TABLE_WIDTH = 150
RESULTS_DIR = DEFAULT_QUESTIONS.parent / "results"


def add_eval_parser(sub: Any) -> None:
    cmd = sub.add_parser("eval", help="run a question set with gold answers; print accuracy, check verdicts and speed")
    add_gateway_arguments(cmd)
    cmd.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS, help="JSONL file (default eval/ladder.jsonl)")
    cmd.add_argument(
        "--modes", default=",".join(MODE_NAMES), help=f"comma-separated: {','.join(MODE_NAMES)} (default all)"
    )
    cmd.add_argument("--limit", type=int, default=None, help="only the first N questions")
    cmd.add_argument("--max-tokens", type=int, default=DEFAULT_MAX_TOKENS, help=f"default {DEFAULT_MAX_TOKENS}")
    cmd.add_argument("--max-reasoning-tokens", type=int, default=None, help="default: 3/4 of --max-tokens")
    cmd.add_argument("--temperature", type=float, default=None, help="default: the server's (greedy)")
    cmd.add_argument("--seed", type=int, default=None)
    cmd.add_argument(
        "--samples",
        type=int,
        default=DEFAULT_SAMPLES,
        help=f"answers per question in mode samples (default {DEFAULT_SAMPLES})",
    )
    cmd.add_argument(
        "--revise", type=int, default=DEFAULT_REVISE, help=f"revision rounds in mode revise (default {DEFAULT_REVISE})"
    )
    cmd.add_argument(
        "--concurrency", type=int, default=None, help="questions in flight (default: live inference workers)"
    )
    cmd.add_argument(
        "-o", "--output", type=Path, default=None, help="JSON results (default eval/results/eval-<time>.json)"
    )
    cmd.add_argument("--chart", type=Path, default=None, help="PNG chart (default: the JSON path with .png)")


class _Bars:
    """One progress bar per mode, with the running count of right answers."""

    def __init__(self, progress: Progress, tasks: dict[str, TaskID]) -> None:
        self._progress = progress
        self._tasks = tasks
        self._correct = dict.fromkeys(tasks, 0)

    def record(self, mode: str, record: QuestionRecord) -> None:
        self._correct[mode] += record.correct
        self._progress.update(self._tasks[mode], advance=1, correct=self._correct[mode])

    def done(self, result: ModeResult) -> None:
        if not result.available:
            task = self._tasks[result.name]
            self._progress.update(task, completed=self._progress.tasks[task].total, correct="– unavailable")


def run_eval(args: argparse.Namespace) -> int:
    """`thinkstream eval`: ask every question in every mode, print the table, write JSON and PNG."""
    import asyncio  # the heavy imports (sympy, matplotlib) wait until the command runs

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from services.evaluation.exceptions import AccessRefused, EvaluationError
    from services.evaluation.harness import Listener, evaluate
    from services.evaluation.modes import build_modes
    from services.evaluation.questions import load_questions
    from services.evaluation.report import ladder_table, table, write_chart, write_json

    console, errors = Console(), Console(stderr=True, highlight=False)
    if not console.is_terminal:
        console.width = max(console.width, TABLE_WIDTH)  # a file or pipe would otherwise get 80 columns
    try:
        questions = load_questions(args.questions)[: args.limit]
        names = [name.strip() for name in args.modes.split(",") if name.strip()]
        modes = build_modes(names, samples=args.samples, revise=args.revise)
    except EvaluationError as exc:
        errors.print(f"thinkstream eval: {exc}", style="red")
        return 2
    if not modes:
        errors.print("thinkstream eval: --modes names no mode", style="red")
        return 2
    budget = args.max_reasoning_tokens if args.max_reasoning_tokens is not None else args.max_tokens * 3 // 4
    request: dict[str, Any] = {"max_tokens": args.max_tokens, "max_reasoning_tokens": budget}
    request.update({key: value for key in ("temperature", "seed") if (value := getattr(args, key)) is not None})
    output = args.output or RESULTS_DIR / f"eval-{datetime.now():%Y%m%d-%H%M%S}.json"
    chart = args.chart or output.with_suffix(".png")

    columns = (
        TextColumn("{task.description:8}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("right {task.fields[correct]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=errors) as progress:
        bars = _Bars(progress, {name: progress.add_task(name, total=len(questions), correct=0) for name in modes})
        listener = Listener(on_record=bars.record, on_mode_done=bars.done)
        try:
            run = asyncio.run(
                evaluate(
                    args.url,
                    questions,
                    modes,
                    request,
                    questions_file=str(args.questions),
                    concurrency=args.concurrency,
                    listener=listener,
                    headers=auth_headers(args),
                )
            )
        except AccessRefused as exc:
            errors.print(f"thinkstream eval: {exc}; {KEY_HINT}", style="red")
            return 1
        except EvaluationError as exc:
            errors.print(f"thinkstream eval: {exc}; is `thinkstream up` running?", style="red")
            return 1
        except KeyboardInterrupt:
            errors.print("thinkstream eval: interrupted; the jobs in flight were canceled", style="yellow")
            return 130
    console.print(table(run))
    if (rungs := ladder_table(run)) is not None:
        console.print(rungs)
    write_json(run, output)
    write_chart(run, chart)
    console.print(f"results: {output}\nchart:   {chart}", highlight=False)
    return 0
