"""Join `thinkstream eval` runs of single modes into one report: table, JSON, PNG, and a Markdown
table of accuracy per rung with 95% Wilson intervals (for the README).

The ladder is run one mode per invocation so that a long run keeps what it finished:

    for mode in plain samples revise both; do
      .venv/bin/thinkstream eval --limit 48 --modes $mode --samples 5 --revise 2 \\
          --max-tokens 160 --max-reasoning-tokens 96 -o eval/figures/ladder-$mode.json
    done
    .venv/bin/python -m eval.ladder_report eval/figures/ladder-{plain,samples,revise,both}.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from services.evaluation.report import ladder_table, rungs_of, table, write_chart, write_json
from services.evaluation.results import EvalRun, summarize

OUT = Path(__file__).resolve().parent / "figures" / "ladder.json"


def join(runs: list[EvalRun]) -> EvalRun:
    first = runs[0]
    return first.model_copy(
        update={
            "modes": [mode for run in runs for mode in run.modes],
            "duration_s": round(sum(run.duration_s for run in runs), 1),
        }
    )


def common(run: EvalRun) -> EvalRun:
    """Every mode restricted to the questions every mode answered (a mode cut short covers fewer)."""
    shared = set.intersection(*({r.id for r in mode.records} for mode in run.modes if mode.summary))
    modes = []
    for mode in run.modes:
        records = [r for r in mode.records if r.id in shared]
        modes.append(mode.model_copy(update={"records": records, "summary": summarize(records) if records else None}))
    return run.model_copy(update={"modes": modes})


def markdown(run: EvalRun) -> str:
    rungs = rungs_of(run)
    lines = [
        "| mode | " + " | ".join(rungs) + " | all |",
        "| --- |" + " ---: |" * (len(rungs) + 1),
    ]
    for mode in run.modes:
        if mode.summary is None:
            continue
        cells = [mode.summary.accuracy_by_rung.get(rung) for rung in rungs] + [mode.summary.accuracy_ci]
        shown = [
            f"{c.correct}/{c.n} = {c.rate:.0%} [{c.low:.0%}, {c.high:.0%}]" if c is not None else "–" for c in cells
        ]
        lines.append(f"| {mode.name} | " + " | ".join(shown) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("-o", "--output", type=Path, default=OUT)
    parser.add_argument("--common", action="store_true", help="only the questions every mode answered")
    args = parser.parse_args()
    run = join([EvalRun.model_validate_json(path.read_text(encoding="utf-8")) for path in args.runs])
    if args.common:
        run = common(run)
    console = Console(width=160)
    console.print(table(run))
    if (rungs := ladder_table(run)) is not None:
        console.print(rungs)
    write_json(run, args.output)
    write_chart(run, args.output.with_suffix(".png"))
    print(markdown(run))
    print(f"\nwritten {args.output} and {args.output.with_suffix('.png')}")


if __name__ == "__main__":
    main()
