"""How far the checks' verdicts can be trusted, on three sets kept apart.

- synthetic: eval/traces.jsonl, templates written beside the checks (`label` error / correct);
- real, tuning: traces the embedded model wrote for the ladder (eval/real_traces.jsonl,
  labelled right / wrong against gold by math-verify, disagreements hand-reviewed), the part the
  checks were tuned on;
- real, held-out: the third of those traces a hash of the id put aside (never tuned on).

For each: precision and recall of `fail` (the positive class is a wrong answer, or a planted
error), and pass→right: of the answers that got `pass`, the share that were right. The baseline
in the same run is the structural checks alone (answer present, not cut off, not looping).
Prints a table and writes bench/results/checker_precision.json.

    .venv/bin/python -m bench.checker_precision [--show-misses]

`--show-misses` lists wrong verdicts on the synthetic and tuning sets only: held-out misses stay
unseen while the checks are tuned (`--show-held-out` once tuning is over, to review labels).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from services.postproc.checks import REGISTRY, Trace, run_checks

ROOT = Path(__file__).resolve().parent.parent
SYNTHETIC = ROOT / "eval" / "traces.jsonl"
REAL = ROOT / "eval" / "real_traces.jsonl"
RESULTS = Path(__file__).parent / "results" / "checker_precision.json"
STRUCTURAL = ["answer_present", "reasoning_closed", "not_truncated", "no_repetition"]
TARGETS = {"precision": 0.95, "recall": 0.85, "pass_right": 0.95}


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def is_bad(row: dict) -> bool:
    return row["label"] in ("error", "wrong")


def score(rows: list[dict], names: list[str]) -> dict:
    tp = fp = fn = tn = 0
    passed = passed_right = 0
    verdicts: Counter[str] = Counter()
    misses, false_alarms, wrong_passes = [], [], []
    for row in rows:
        trace = Trace(
            row["question"], row["reasoning"], row["answer"], row.get("finish_reason"), row.get("reasoning_end")
        )
        report = run_checks(trace, names)
        verdicts[report.verdict] += 1
        failed, bad = report.verdict == "fail", is_bad(row)
        tp += failed and bad
        fp += failed and not bad
        fn += bad and not failed
        tn += not bad and not failed
        if report.verdict == "pass":
            passed += 1
            passed_right += not bad
            if bad:
                wrong_passes.append(row["id"])
        if bad and not failed:
            misses.append(row["id"])
        if failed and not bad:
            errors = [f.message for f in report.findings if f.severity == "error"]
            false_alarms.append({"id": row["id"], "findings": errors})
    return {
        "checks": names,
        "traces": len(rows),
        "bad": tp + fn,
        "precision": tp / (tp + fp) if tp + fp else None,
        "recall": tp / (tp + fn) if tp + fn else None,
        "pass_right": passed_right / passed if passed else None,
        "passed": passed,
        "passed_right": passed_right,
        "true_positives": tp,
        "false_positives": fp,
        "false_negatives": fn,
        "true_negatives": tn,
        "verdicts": dict(verdicts),
        "missed": misses,
        "false_alarms": false_alarms,
        "wrong_passes": wrong_passes,
    }


def _f(x: float | None) -> str:
    return "   –" if x is None else f"{x:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", type=Path, default=SYNTHETIC)
    parser.add_argument("--real", type=Path, default=REAL)
    parser.add_argument("--show-misses", action="store_true", help="list wrong verdicts (synthetic and tuning only)")
    parser.add_argument("--show-held-out", action="store_true", help="also list the held-out set's wrong verdicts")
    args = parser.parse_args()

    real = load(args.real) if args.real.exists() else []
    sets = {
        "synthetic": load(args.synthetic),
        "real, tuning": [r for r in real if r["split"] == "tuning"],
        "real, held-out": [r for r in real if r["split"] == "held-out"],
    }
    runs = {
        name: {"structural only (baseline)": score(rows, STRUCTURAL), "all checks": score(rows, list(REGISTRY))}
        for name, rows in sets.items()
        if rows
    }
    header = (
        f"{'set':16}{'checks':28}{'n':>5}{'bad':>5}{'precision':>10}{'recall':>8}"
        f"{'pass→right':>18}{'pass/fail/unsure':>18}"
    )
    print(header)
    print("-" * len(header))
    for name, by_checks in runs.items():
        for label, r in by_checks.items():
            v = r["verdicts"]
            split = f"{v.get('pass', 0)}/{v.get('fail', 0)}/{v.get('unsure', 0)}"
            right = f"{_f(r['pass_right'])} ({r['passed_right']}/{r['passed']})"
            print(
                f"{name:16}{label:28}{r['traces']:5}{r['bad']:5}{_f(r['precision']):>10}{_f(r['recall']):>8}"
                f"{right:>18}{split:>18}"
            )
    t = TARGETS
    print(f"{'target (held-out)':44}{'':10}{t['precision']:>10}{t['recall']:>8}{t['pass_right']:>18}")
    if args.show_misses or args.show_held_out:
        for name, by_checks in runs.items():
            if name == "real, held-out" and not args.show_held_out:
                continue
            final = by_checks["all checks"]
            print(f"\n{name}: missed {', '.join(final['missed']) or 'none'}")
            print(f"{name}: wrong passes {', '.join(final['wrong_passes']) or 'none'}")
            for alarm in final["false_alarms"]:
                print(f"{name}: false alarm {alarm['id']}: {alarm['findings']}")
    summary = {"targets": TARGETS, "sets": runs}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
