"""How good the queue's expected start is: predicted against actual, on a real stack.

A real stack (two inference workers on the embedded model) gets waves of questions from
`eval/questions.jsonl` (questions the estimate was never tuned on) with mixed budgets
(`max_tokens` 64, 128 or 256), more at once than the workers can take, so most of them wait.
Every `queued` update a waiting job's stream got says, at time `ts`, that the job should start
`eta_s` later; the job's `started` event says when it did. For each update:

    error = (ts + eta_s) - started.ts        (positive: the job started earlier than said)
    horizon = started.ts - ts               (how far ahead the update looked)

The baseline, computed for the same updates at the same moments, is what a client could do
without the forecast: `(position / workers + 0.5) x` the mean time the workers spent on a job
so far (the pace `Retry-After` uses). Prints a table per horizon and writes
bench/results/queue_eta.json.

    .venv/bin/python -m bench.queue_eta [--waves 3] [--per-wave 14] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from shared import keys
from tests.support.stack import Stack

RESULTS = Path(__file__).parent / "results" / "queue_eta.json"
QUESTIONS = Path(__file__).parents[1] / "eval" / "questions.jsonl"
BUDGETS = (64, 128, 256)
HORIZONS = ((0, 5), (5, 15), (15, 60), (60, 10_000))


def submit(client: httpx.Client, question: str, max_tokens: int) -> str:
    body = {"prompt": question, "max_tokens": max_tokens, "max_reasoning_tokens": max_tokens * 3 // 4}
    response = client.post("/v1/jobs", json=body)
    response.raise_for_status()
    return str(response.json()["id"])


def wait_all(client: httpx.Client, job_ids: list[str], timeout_s: float = 1800) -> None:
    deadline = time.monotonic() + timeout_s
    for job_id in job_ids:
        while client.get(f"/v1/jobs/{job_id}").json()["status"] in ("queued", "running", "checking"):
            if time.monotonic() > deadline:
                raise TimeoutError("the jobs did not finish")
            time.sleep(0.5)


def job_record(stack: Stack, job_id: str) -> dict[str, Any]:
    with stack.redis.client() as redis:
        events = [json.loads(raw) for raw in redis.lrange(keys.job_events_key(job_id), 0, -1)]
    started = next(e["ts"] for e in events if e["type"] == "started")
    done = next(e for e in events if e["type"] == "done")
    timings = done["result"]["timings"]
    busy_s = (timings["total_ms"] - timings["queued_ms"]) / 1000
    queued = [e for e in events if e["type"] == "queued"]
    return {"job_id": job_id, "started": started, "ended": started + busy_s, "busy_s": busy_s, "queued": queued}


def predictions(records: list[dict[str, Any]], workers: int) -> list[dict[str, Any]]:
    rows = []
    for record in records:
        for update in record["queued"][1:]:  # the first is the place at acceptance, without an estimate
            if update.get("eta_s") is None:
                continue
            finished = [r["busy_s"] for r in records if r["ended"] <= update["ts"]]
            mean_s = statistics.fmean(finished) if finished else None
            naive = None if mean_s is None else (update["position"] / workers + 0.5) * mean_s
            rows.append(
                {
                    "job_id": record["job_id"],
                    "position": update["position"],
                    "horizon_s": record["started"] - update["ts"],
                    "error_s": update["ts"] + update["eta_s"] - record["started"],
                    "baseline_error_s": None if naive is None else update["ts"] + naive - record["started"],
                    "first": update is record["queued"][1],
                }
            )
    return rows


def summary(rows: list[dict[str, Any]], field: str) -> dict[str, Any]:
    errors = [abs(r[field]) for r in rows if r[field] is not None]
    if not errors:
        return {"n": 0}
    relative = [abs(r[field]) / r["horizon_s"] for r in rows if r[field] is not None and r["horizon_s"] >= 2]
    return {
        "n": len(errors),
        "median_abs_s": round(statistics.median(errors), 2),
        "mean_abs_s": round(statistics.fmean(errors), 2),
        "p90_abs_s": round(sorted(errors)[int(0.9 * (len(errors) - 1))], 2),
        "median_relative": round(statistics.median(relative), 3) if relative else None,
        "bias_s": round(statistics.fmean(r[field] for r in rows if r[field] is not None), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--waves", type=int, default=3)
    parser.add_argument("--per-wave", type=int, default=14)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    questions = [json.loads(line)["question"] for line in QUESTIONS.read_text().splitlines() if line.strip()]
    rng.shuffle(questions)
    with (
        tempfile.TemporaryDirectory() as tmp,
        Stack(Path(tmp), workers=args.workers) as stack,
        httpx.Client(base_url=stack.url, timeout=60) as client,
    ):
        warmup = [submit(client, questions[i], BUDGETS[i % 3]) for i in range(args.workers)]
        wait_all(client, warmup)  # the workers' pace is measured from here on
        measured = []
        for wave in range(args.waves):
            batch = [
                submit(client, questions[(wave * args.per_wave + n) % len(questions)], rng.choice(BUDGETS))
                for n in range(args.per_wave)
            ]
            wait_all(client, batch)
            measured += batch
        records = [job_record(stack, job_id) for job_id in [*warmup, *measured]]
    rows = predictions(records, args.workers)
    table = []
    for low, high in HORIZONS:
        band = [r for r in rows if low <= r["horizon_s"] < high]
        table.append(
            {
                "horizon": f"{low}-{high} s",
                "eta": summary(band, "error_s"),
                "baseline": summary(band, "baseline_error_s"),
            }
        )
    firsts = [r for r in rows if r["first"]]
    table.append(
        {"horizon": "first update", "eta": summary(firsts, "error_s"), "baseline": summary(firsts, "baseline_error_s")}
    )
    table.append({"horizon": "all", "eta": summary(rows, "error_s"), "baseline": summary(rows, "baseline_error_s")})
    print(
        f"{'horizon':>14} {'updates':>8} | {'ETA median |err|':>17} {'p90':>6} {'rel':>6} {'bias':>6} | "
        f"{'baseline median':>16} {'p90':>6} {'rel':>6} {'bias':>6}"
    )
    for row in table:
        eta, base = row["eta"], row["baseline"]
        if not eta.get("n"):
            continue
        print(
            f"{row['horizon']:>14} {eta['n']:>8} | {eta['median_abs_s']:>15.1f} s {eta['p90_abs_s']:>5.1f}s "
            f"{eta['median_relative']!s:>6} {eta['bias_s']:>+5.1f}s | {base['median_abs_s']:>14.1f} s "
            f"{base['p90_abs_s']:>5.1f}s {base['median_relative']!s:>6} {base['bias_s']:>+5.1f}s"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"args": vars(args), "table": table, "updates": rows}, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
