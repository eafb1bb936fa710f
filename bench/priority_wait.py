"""The wait of a high-priority question under a steady low-priority load, on a real stack.

A real stack (two inference workers on the embedded model) is kept busy by a steady stream of
low-priority jobs (batch-like work: a feeder keeps `--backlog` of them waiting at all times).
The same short question is then asked, one at a time, in rounds that alternate four ways:

- `high` under the load;
- `normal` under the load;
- `low` under the load: the load's own priority, so it queues behind it as every question would
  in a queue without priorities (the baseline a priority is measured against);
- `normal` with no load: the feeder paused and the queue drained (the floor).

The wait is the job's own `queued_ms` (accepted to started). Prints a table and writes
bench/results/priority_wait.json.

    .venv/bin/python -m bench.priority_wait [--rounds 5] [--backlog 8] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx

from services.store.scheduler import Priority, Scheduler
from shared import keys
from shared.settings import Settings
from tests.support.stack import Stack

RESULTS = Path(__file__).parent / "results" / "priority_wait.json"
QUESTION = {"prompt": "What is 7 + 5? Answer with the number.", "max_tokens": 32, "max_reasoning_tokens": 16}
LOAD = {"max_tokens": 96, "max_reasoning_tokens": 64, "priority": "low"}
CONDITIONS = ("high", "normal", "low", "no load")


class Feeder:
    """Keeps `backlog` low-priority jobs waiting while it runs."""

    def __init__(self, stack: Stack, backlog: int) -> None:
        self._stack = stack
        self._backlog = backlog
        self._paused = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.submitted = 0

    def waiting(self) -> dict[Priority, int]:
        with self._stack.redis.client() as redis:
            settings = Settings(redis_url=self._stack.redis.url)
            return Scheduler(redis, settings).waiting(settings.served_model_name)

    def _run(self) -> None:
        with httpx.Client(base_url=self._stack.url, timeout=60) as client:
            while not self._stop.is_set():
                if not self._paused.is_set() and self.waiting()[Priority.LOW] < self._backlog:
                    body = {"prompt": f"Write a short note about item {self.submitted}.", **LOAD}
                    client.post("/v1/jobs", json=body).raise_for_status()
                    self.submitted += 1
                    continue
                time.sleep(0.1)

    def start(self) -> None:
        self._thread.start()

    def pause(self) -> None:
        self._paused.set()

    def resume(self) -> None:
        self._paused.clear()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def ask(client: httpx.Client, priority: str) -> float:
    """Ask the question at `priority`, wait for its end; returns its wait for a worker in s."""
    job_id = client.post("/v1/jobs", json={**QUESTION, "priority": priority}).json()["id"]
    while True:
        view = client.get(f"/v1/jobs/{job_id}").json()
        if view["status"] in ("succeeded", "failed", "canceled"):
            return float(view["timings"]["queued_ms"]) / 1000
        time.sleep(0.1)


def drained(stack: Stack, feeder: Feeder) -> None:
    """Wait until nothing waits and no worker is busy."""
    with stack.redis.client() as redis:
        while sum(feeder.waiting().values()) or redis.hlen(keys.RUNNING_JOBS):
            time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--backlog", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    waits: dict[str, list[float]] = {condition: [] for condition in CONDITIONS}
    with (
        tempfile.TemporaryDirectory() as tmp,
        Stack(Path(tmp), workers=args.workers) as stack,
        httpx.Client(base_url=stack.url, timeout=120) as client,
    ):
        feeder = Feeder(stack, args.backlog)
        feeder.start()
        time.sleep(5.0)  # the load reaches its steady state
        for round_no in range(args.rounds):
            for condition in CONDITIONS:
                if condition == "no load":
                    feeder.pause()
                    drained(stack, feeder)
                    waits[condition].append(ask(client, "normal"))
                    feeder.resume()
                    time.sleep(5.0)
                else:
                    waits[condition].append(ask(client, condition))
                print(f"round {round_no + 1} {condition:>8}: waited {waits[condition][-1]:.2f} s", flush=True)
        feeder.stop()
        load_jobs = feeder.submitted
    rows = []
    for condition in CONDITIONS:
        values = sorted(waits[condition])
        rows.append(
            {
                "condition": condition if condition == "no load" else f"{condition} under low load",
                "n": len(values),
                "median_s": round(statistics.median(values), 2),
                "mean_s": round(statistics.fmean(values), 2),
                "max_s": round(values[-1], 2),
                "waits_s": [round(v, 2) for v in waits[condition]],
            }
        )
    print(f"\n{'question asked at':>24} {'n':>3} {'median wait':>12} {'mean':>7} {'max':>7}")
    for row in rows:
        print(
            f"{row['condition']:>24} {row['n']:>3} {row['median_s']:>10.2f} s "
            f"{row['mean_s']:>5.2f} s {row['max_s']:>5.2f} s"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"args": vars(args), "load_jobs": load_jobs, "rows": rows}, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
