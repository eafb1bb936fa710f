"""How far the checks' verdicts can be trusted, on sets kept apart.

- synthetic: eval/traces.jsonl, templates written beside the checks (`label` error / correct);
- real, tuning: traces the embedded model wrote for the ladder (eval/real_traces.jsonl,
  labelled right / wrong against gold by math-verify, disagreements hand-reviewed), the part the
  checks were tuned on;
- real, held-out: the third of those traces a hash of the id put aside. Its one wrong pass was
  looked at and told what to fix, so it has been seen: kept for comparison, no longer a test;
- fresh (seen once; rules added after): eval/fresh_traces.jsonl, the embedded model's answers
  to questions written after the checks were frozen (eval/make_fresh.py), labelled the same way.
  Measured once unseen; its two wrong passes then suggested two general rules (the question's
  computation said in words, a pass's chain uses every number), so it is no longer a test;
- fresh2 (unseen): eval/fresh2_traces.jsonl (eval/make_fresh2.py; collected and labelled as
  eval/README.md says), word problems written after those rules. Measured once; the model was
  right 3 times in 512 and earned no pass, so it measures fail, not pass→right;
- fresh3 (unseen): eval/fresh3_traces.jsonl when it exists (eval/make_fresh3.py): one-step
  arithmetic in new phrasings, where the model is right often enough to earn passes.

For each: precision and recall of `fail` (the positive class is a wrong answer, or a planted
error), pass→right: of the answers that got `pass`, the share that were right, and wrong→pass:
of the wrong answers, the share that got `pass`; each with its counts and a 95% Wilson
interval. The baseline in the same run is the structural checks alone (answer present, not cut
off, not looping).
Prints a table and writes bench/results/checker_precision.json (`-o eval/figures/checker.json`
for the figures the README quotes).

    .venv/bin/python -m bench.checker_precision [--show-misses] [-o PATH]

`--show-misses` lists wrong verdicts on the synthetic and tuning sets only: held-out misses stay
unseen while the checks are tuned (`--show-held-out` once tuning is over, to review labels).
`--only SET` measures one set (e.g. `--only fresh`).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from services.evaluation.results import wilson
from services.postproc.checks import REGISTRY, Trace, run_checks

ROOT = Path(__file__).resolve().parent.parent
SYNTHETIC = ROOT / "eval" / "traces.jsonl"
REAL = ROOT / "eval" / "real_traces.jsonl"
FRESH = ROOT / "eval" / "fresh_traces.jsonl"
FRESH2 = ROOT / "eval" / "fresh2_traces.jsonl"
FRESH3 = ROOT / "eval" / "fresh3_traces.jsonl"
FRESH_SEEN = "fresh (seen once; rules added after)"
FRESH2_UNSEEN = "fresh2 (unseen)"
FRESH3_UNSEEN = "fresh3 (unseen)"
HELD_OUT = ("real, held-out", FRESH_SEEN, FRESH2_UNSEEN, FRESH3_UNSEEN)
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
        "precision_ci95": wilson(tp, tp + fp),
        "recall_ci95": wilson(tp, tp + fn),
        "pass_right_ci95": wilson(passed_right, passed),
        "wrong_passed": passed - passed_right,
        "wrong_pass_rate_ci95": wilson(passed - passed_right, tp + fn),
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


def _rate(hits: int, n: int) -> str:
    """0.968 (120/124) [0.92, 0.99]"""
    if n == 0:
        return "– (0/0)"
    low, high = wilson(hits, n)
    return f"{hits / n:.3f} ({hits}/{n}) [{low:.2f}, {high:.2f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", type=Path, default=SYNTHETIC)
    parser.add_argument("--real", type=Path, default=REAL)
    parser.add_argument("--show-misses", action="store_true", help="list wrong verdicts (synthetic and tuning only)")
    parser.add_argument("--show-held-out", action="store_true", help="also list the held-out sets' wrong verdicts")
    parser.add_argument("--fresh", type=Path, default=FRESH)
    parser.add_argument("--fresh2", type=Path, default=FRESH2)
    parser.add_argument("--fresh3", type=Path, default=FRESH3)
    parser.add_argument("--only", help="measure only the sets whose name contains this")
    parser.add_argument(
        "-o", "--output", type=Path, default=RESULTS, help=f"JSON (default {RESULTS.relative_to(ROOT)})"
    )
    args = parser.parse_args()

    real = load(args.real) if args.real.exists() else []
    sets = {
        "synthetic": load(args.synthetic),
        "real, tuning": [r for r in real if r["split"] == "tuning"],
        "real, held-out": [r for r in real if r["split"] == "held-out"],
        FRESH_SEEN: load(args.fresh) if args.fresh.exists() else [],
        FRESH2_UNSEEN: load(args.fresh2) if args.fresh2.exists() else [],
        FRESH3_UNSEEN: load(args.fresh3) if args.fresh3.exists() else [],
    }
    runs = {
        name: {"structural only (baseline)": score(rows, STRUCTURAL), "all checks": score(rows, list(REGISTRY))}
        for name, rows in sets.items()
        if rows and (args.only is None or args.only in name)
    }
    header = (
        f"{'set':38}{'checks':28}{'n':>5}{'bad':>5}{'precision of fail':>30}{'recall of fail':>30}"
        f"{'pass→right':>28}{'wrong→pass':>28}{'pass/fail/unsure':>18}"
    )
    print(header)
    print("-" * len(header))
    for name, by_checks in runs.items():
        for label, r in by_checks.items():
            v = r["verdicts"]
            split = f"{v.get('pass', 0)}/{v.get('fail', 0)}/{v.get('unsure', 0)}"
            tp, fp, fn = r["true_positives"], r["false_positives"], r["false_negatives"]
            print(
                f"{name:38}{label:28}{r['traces']:5}{r['bad']:5}{_rate(tp, tp + fp):>30}{_rate(tp, tp + fn):>30}"
                f"{_rate(r['passed_right'], r['passed']):>28}{_rate(r['passed'] - r['passed_right'], r['bad']):>28}"
                f"{split:>18}"
            )
    t = TARGETS
    print(f"{'target (unseen held-out)':76}{t['precision']:>30}{t['recall']:>30}{t['pass_right']:>28}")
    if args.show_misses or args.show_held_out:
        for name, by_checks in runs.items():
            if name in HELD_OUT and not args.show_held_out:
                continue
            final = by_checks["all checks"]
            print(f"\n{name}: missed {', '.join(final['missed']) or 'none'}")
            print(f"{name}: wrong passes {', '.join(final['wrong_passes']) or 'none'}")
            for alarm in final["false_alarms"]:
                print(f"{name}: false alarm {alarm['id']}: {alarm['findings']}")
    summary = {"targets": TARGETS, "sets": runs}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"\nwritten to {args.output}")


if __name__ == "__main__":
    main()
