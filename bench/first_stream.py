"""The first stream after start-up, with and without the start-up warm-up.

Each round starts a fresh stack (Redis, gateway, one inference worker, one checker) twice, once
with `THINKSTREAM_WARM_UP=false` (cold) and once with the default warm-up, waits for `/readyz`,
then runs the same question several times, one after the other, following each job's
`/v1/jobs` stream. The first job of a start-up is compared with the later ones:

- **ttft ms**: from sending the job to its first text event, as the client sees it;
- **lag of the first events**: how long after the server stamped them (`ts`) the events of the
  first second of reasoning arrived (the worst of them);
- **check ms**: from the last text event to the `check` event (the checker's own work);
- **ready s**: from starting the processes to `/readyz` answering 200.

Prints a table and writes bench/results/first_stream.json.

    .venv/bin/python -m bench.first_stream [--rounds 3] [--jobs 4] [--max-tokens 96]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from httpx_sse import connect_sse

from tests.support.stack import Stack

RESULTS = Path(__file__).parent / "results" / "first_stream.json"
QUESTION = "A train travels {km} km in 45 minutes. What is its average speed in km/h?"
"""A new question each time (the chat template's prefix is shared): every job evaluates its prompt."""


def follow(url: str, max_tokens: int, km: int) -> dict[str, float]:
    body = {"prompt": QUESTION.format(km=km), "max_tokens": max_tokens, "max_reasoning_tokens": max_tokens // 2}
    seen: list[tuple[float, dict[str, Any]]] = []
    with httpx.Client(base_url=url, timeout=120) as client:
        sent = time.time()
        job = client.post("/v1/jobs", json=body).json()
        with connect_sse(client, "GET", job["events_url"]) as source:
            for sse in source.iter_sse():
                if not sse.data:
                    continue
                event = json.loads(sse.data)
                seen.append((time.time(), event))
                if event["type"] in ("done", "error", "canceled"):
                    break
    text = [(arrived, e) for arrived, e in seen if e["type"] in ("reasoning", "answer")]
    first_ts = text[0][1]["ts"]
    early = [arrived - e["ts"] for arrived, e in text if e["ts"] - first_ts <= 1.0]
    check = next(e["ts"] for _, e in seen if e["type"] == "check")
    return {
        "ttft_ms": (text[0][0] - sent) * 1000,
        "first_event_lag_ms": early[0] * 1000,
        "first_second_max_lag_ms": max(early) * 1000,
        "check_ms": (check - text[-1][1]["ts"]) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=96)
    args = parser.parse_args()

    runs: dict[str, list[list[dict[str, float]]]] = {"cold": [], "warm": []}
    for number in range(args.rounds):
        for mode in ("cold", "warm"):
            env = {"THINKSTREAM_WARM_UP": "true" if mode == "warm" else "false"}
            with tempfile.TemporaryDirectory() as tmp:
                stack = Stack(Path(tmp), env=env)
                began = time.monotonic()
                with stack:
                    ready_s = time.monotonic() - began
                    jobs = [follow(stack.url, args.max_tokens, 60 + 15 * n) for n in range(args.jobs)]
            for job in jobs:
                job["ready_s"] = ready_s
            runs[mode].append(jobs)
            print(f"round {number + 1} {mode}: ttft " + ", ".join(f"{job['ttft_ms']:.0f}" for job in jobs), flush=True)

    keys = ("ttft_ms", "first_event_lag_ms", "first_second_max_lag_ms", "check_ms", "ready_s")
    table: dict[str, dict[str, float]] = {}
    for mode, rounds in runs.items():
        table[f"{mode} first job"] = {key: statistics.median(r[0][key] for r in rounds) for key in keys}
        later = [job for r in rounds for job in r[1:]]
        table[f"{mode} later jobs"] = {key: statistics.median(job[key] for job in later) for key in keys}
    print(f"\nmedians over {args.rounds} start-ups each" + "".join(f"{column:>18}" for column in table))
    for key in keys:
        print(f"{key:34}" + "".join(f"{table[column][key]:18.1f}" for column in table))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"medians": table, "runs": runs}, indent=2))
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
