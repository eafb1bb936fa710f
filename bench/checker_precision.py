"""How well the answer checker separates broken traces from correct ones.

Runs the checks over the labelled traces in eval/traces.jsonl and scores verdict `fail` against
label `error`: precision, recall, recall per kind of planted error. The baseline in the same run
is the structural checks alone (answer present, not cut off, not looping), which is what the
pipeline had before the arithmetic, equation and agreement checks. Prints a table and writes
bench/results/checker_precision.json.

    .venv/bin/python -m bench.checker_precision [--traces eval/traces.jsonl] [--show-misses]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from services.postproc.checks import REGISTRY, Trace, run_checks

ROOT = Path(__file__).resolve().parent.parent
TRACES = ROOT / "eval" / "traces.jsonl"
RESULTS = Path(__file__).parent / "results" / "checker_precision.json"
STRUCTURAL = ["answer_present", "reasoning_closed", "not_truncated", "no_repetition"]
PRECISION_TARGET = 0.95
RECALL_TARGET = 0.85


def score(rows: list[dict], names: list[str]) -> dict:
    tp = fp = fn = tn = 0
    by_kind: Counter[str] = Counter()
    caught_by_kind: Counter[str] = Counter()
    verdicts: Counter[str] = Counter()
    misses, false_alarms = [], []
    for row in rows:
        trace = Trace(
            row["question"], row["reasoning"], row["answer"], row.get("finish_reason"), row.get("reasoning_end")
        )
        report = run_checks(trace, names)
        verdicts[report.verdict] += 1
        failed = report.verdict == "fail"
        if row["label"] == "error":
            by_kind[row["kind"]] += 1
            caught_by_kind[row["kind"]] += failed
            tp += failed
            fn += not failed
            if not failed:
                misses.append(row["id"])
        else:
            fp += failed
            tn += not failed
            if failed:
                false_alarms.append(
                    {"id": row["id"], "findings": [f.message for f in report.findings if f.severity == "error"]}
                )
    return {
        "checks": names,
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "true_positives": tp,
        "false_positives": fp,
        "false_negatives": fn,
        "true_negatives": tn,
        "verdicts": dict(verdicts),
        "recall_by_kind": {kind: caught_by_kind[kind] / n for kind, n in sorted(by_kind.items())},
        "errors_by_kind": dict(sorted(by_kind.items())),
        "missed": misses,
        "false_alarms": false_alarms,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=Path, default=TRACES)
    parser.add_argument("--show-misses", action="store_true", help="list the traces scored wrongly")
    args = parser.parse_args()

    rows = [json.loads(line) for line in args.traces.read_text(encoding="utf-8").splitlines() if line.strip()]
    runs = {"structural only (baseline)": score(rows, STRUCTURAL), "all checks": score(rows, list(REGISTRY))}
    kinds = sorted({k for r in runs.values() for k in r["recall_by_kind"]})

    labels = Counter(r["label"] for r in rows)
    print(f"{len(rows)} traces: {labels['correct']} correct, {labels['error']} with a planted error\n")
    header = (
        f"{'checks':28}{'precision':>10}{'recall':>8}"
        + "".join(f"{k:>14}" for k in kinds)
        + f"{'pass/fail/unsure':>20}"
    )
    print(header)
    print("-" * len(header))
    for label, r in runs.items():
        v = r["verdicts"]
        split = f"{v.get('pass', 0)}/{v.get('fail', 0)}/{v.get('unsure', 0)}"
        print(
            f"{label:28}{r['precision']:10.3f}{r['recall']:8.3f}"
            + "".join(f"{r['recall_by_kind'][k]:14.3f}" for k in kinds)
            + f"{split:>20}"
        )
    print(f"{'target':28}{PRECISION_TARGET:>10}{RECALL_TARGET:>8}   (per-kind columns are recall)")
    final = runs["all checks"]
    if args.show_misses:
        print("\nmissed:", ", ".join(final["missed"]) or "none")
        for alarm in final["false_alarms"]:
            print(f"false alarm {alarm['id']}: {alarm['findings']}")
    summary = {
        "traces": len(rows),
        "labels": dict(labels),
        "targets": {"precision": PRECISION_TARGET, "recall": RECALL_TARGET},
        "runs": runs,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
