"""Batch throughput with 1 and 2 inference workers, and what a running batch costs a person chatting.

One stack per worker count N (threads per worker = cores // N, each stack with its own Redis),
all started up front and warmed, then used in turn, round after round (the order reversed every
other round), so load from elsewhere on a shared machine falls on every configuration alike:

- **throughput**: a batch of this round's share of `--questions` short questions
  (`POST /v1/batches`), timed from submission until it is `completed`. N = 1 is the baseline;
- **idle**: interactive questions, one at a time, on the idle stack: time to first token
  (client side, from sending the request to the first streamed token) is the baseline;
- **during a batch**: another batch keeps every worker busy while interactive questions are
  asked at random moments. Batch items wait on a lower-priority queue, so an interactive
  question waits at most for the items the workers are running, not for the batch. For
  comparison, `fifo_estimate_ms` is what it would wait on a first-come queue: the batch items
  still queued, times the mean item time, divided among the workers.

Prints a table and writes bench/results/batch_throughput.json.

    .venv/bin/python -m bench.batch_throughput [--workers 1,2] [--questions 100] [--rounds 2]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from httpx_sse import connect_sse

from bench.scaling import questions, scrape, wait_for_workers
from shared.settings import Settings
from tests.support.stack import Stack

RESULTS = Path(__file__).parent / "results" / "batch_throughput.json"
NDJSON = {"content-type": "application/x-ndjson"}
PROBE = "A shop sells pens at {a} dollars each. How much do {b} pens cost?"
"""Different numbers each time, so no probe finds its prompt in a worker's KV cache."""
FINAL = ("completed", "failed", "cancelled", "expired")


@dataclass
class Probe:
    """One interactive question."""

    client_ttft_ms: float
    """From sending the request to the first reasoning or answer token, as the client saw it."""
    server_ttft_ms: float
    queue_ms: float
    batch_items_queued: int = 0
    """Batch items waiting when the question was asked (only during a batch)."""


@dataclass
class Run:
    workers: int
    threads_per_worker: int
    questions: int
    wall_s: float
    questions_per_min: float
    tokens_per_s: float
    completed: int
    failed: int
    mean_item_s: float
    """Mean generation time of one batch item (first token to last, plus prompt)."""
    load_avg_1m: float
    """The machine's mean load around this configuration's batches: other processes skew a run."""
    load_avg_max_1m: float
    idle: list[Probe] = field(default_factory=list)
    during_batch: list[Probe] = field(default_factory=list)
    fifo_estimate_ms: list[float] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)
    """Why batch items failed, with how many."""


def batch_body(items: list[str], args: argparse.Namespace, prefix: str) -> bytes:
    lines = [
        {
            "custom_id": f"{prefix}-{index}",
            "question": text,
            "max_tokens": args.max_tokens,
            "max_reasoning_tokens": args.max_reasoning_tokens,
        }
        for index, text in enumerate(items)
    ]
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def ask(client: httpx.Client, args: argparse.Namespace, rng: random.Random) -> Probe:
    question = PROBE.format(a=rng.randint(2, 99), b=rng.randint(2, 99))
    body = {
        "messages": [{"role": "user", "content": question}],
        "stream": True,
        "max_tokens": args.max_tokens,
        "max_reasoning_tokens": args.max_reasoning_tokens,
    }
    sent = time.perf_counter()
    first: float | None = None
    timings: dict[str, Any] = {}
    with connect_sse(client, "POST", "/v1/chat/completions", json=body) as source:
        for sse in source.iter_sse():
            if not sse.data:  # a keep-alive comment
                continue
            if sse.data == "[DONE]":
                break
            chunk = json.loads(sse.data)
            delta = chunk["choices"][0]["delta"] if chunk.get("choices") else {}
            if first is None and (delta.get("reasoning_content") or delta.get("content")):
                first = time.perf_counter()
            timings = chunk.get("timings") or timings
    assert first is not None and timings, "the interactive question got no tokens"
    return Probe(
        client_ttft_ms=round((first - sent) * 1000, 1),
        server_ttft_ms=timings["ttft_ms"],
        queue_ms=timings["queue_ms"],
    )


def wait_batch(client: httpx.Client, batch_id: str, poll_s: float = 0.25) -> dict[str, Any]:
    while True:
        batch = client.get(f"/v1/batches/{batch_id}").json()
        if batch["status"] in FINAL:
            return batch
        time.sleep(poll_s)


def batch_queue_depth(url: str) -> int:
    """Batch items waiting (not running), from the gateway's /metrics."""
    labels = (("model", Settings().served_model_name), ("priority", "low"))
    return int(scrape(url).get(("thinkstream_queue_depth", labels), 0))


class Config:
    """One stack (its own Redis) with `workers` inference workers of `threads` threads each."""

    def __init__(self, data_dir: Path, workers: int, threads: int) -> None:
        # The product's liveness defaults, not the test stack's quick ones: on a busy machine a 3 s
        # heartbeat deadline declares a working worker dead and its job is retried. Batch items
        # may wait longer than an interactive job's queue-wait limit (the worker applies it to all).
        env = {
            "THINKSTREAM_N_THREADS": str(threads),
            "THINKSTREAM_LOG_LEVEL": "WARNING",
            "THINKSTREAM_HEARTBEAT_INTERVAL_S": "2",
            "THINKSTREAM_WORKER_TTL_S": "10",
            "THINKSTREAM_MAX_QUEUE_WAIT_S": "86400",
        }
        self.workers, self.threads = workers, threads
        self.stack = Stack(data_dir / f"workers-{workers}", workers=workers, env=env)
        self.client = httpx.Client(base_url=self.stack.url, timeout=600)
        self.wall_s = 0.0
        self.completed = self.failed = self.tokens = 0
        self.item_s: list[float] = []
        self.loads: list[float] = []
        self.failures: dict[str, int] = {}
        self.idle: list[Probe] = []
        self.during: list[Probe] = []
        self.fifo_ms: list[float] = []

    def start(self, args: argparse.Namespace) -> None:
        self.stack.start()
        wait_for_workers(self.stack.url, self.workers)
        # Warm up: every worker touches the model once, so the runs compare warm processes.
        warm = self.client.post("/v1/batches", content=batch_body(["Hi"] * self.workers, args, "warm"), headers=NDJSON)
        wait_batch(self.client, warm.json()["id"])

    def stop(self) -> None:
        self.client.close()
        self.stack.stop()

    def throughput(self, items: list[str], args: argparse.Namespace, prefix: str) -> None:
        """One batch, timed from submission until it is `completed`."""
        self.loads.append(os.getloadavg()[0])
        start = time.perf_counter()
        created = self.client.post("/v1/batches", content=batch_body(items, args, prefix), headers=NDJSON)
        created.raise_for_status()
        batch = wait_batch(self.client, created.json()["id"])
        self.wall_s += time.perf_counter() - start
        self.loads.append(os.getloadavg()[0])
        self.completed += batch["request_counts"]["completed"]
        self.failed += batch["request_counts"]["failed"]
        if batch["output_file_id"]:
            for raw in self.client.get(f"/v1/files/{batch['output_file_id']}/content").text.splitlines():
                body = json.loads(raw)["response"]["body"]
                self.tokens += body["usage"]["completion_tokens"]
                self.item_s.append((body["timings"]["total_ms"] - body["timings"]["queue_ms"]) / 1000)
        if batch["error_file_id"]:
            for raw in self.client.get(f"/v1/files/{batch['error_file_id']}/content").text.splitlines():
                line = json.loads(raw)
                reason = (line["error"] or line["response"]["body"]["error"])["message"]
                self.failures[reason] = self.failures.get(reason, 0) + 1

    def probe(self, count: int, args: argparse.Namespace, rng: random.Random) -> None:
        """`count` interactive questions on the idle stack, then `count` while a batch runs."""
        self.idle += [ask(self.client, args, rng) for _ in range(count)]
        item_s = statistics.fmean(self.item_s) if self.item_s else 2.0
        items = questions(count * 8 * self.workers, rng.randint(0, 10**6))
        background = self.client.post("/v1/batches", content=batch_body(items, args, "bg"), headers=NDJSON).json()
        time.sleep(item_s)  # every worker is on a batch item now
        for _ in range(count):
            time.sleep(rng.uniform(0.2, item_s))  # land anywhere inside the running items
            queued = batch_queue_depth(self.stack.url)
            probe = ask(self.client, args, rng)
            probe.batch_items_queued = queued
            self.during.append(probe)
            self.fifo_ms.append(round(queued * item_s * 1000 / self.workers, 1))
        self.client.post(f"/v1/batches/{background['id']}/cancel")
        wait_batch(self.client, background["id"])

    def result(self) -> Run:
        return Run(
            workers=self.workers,
            threads_per_worker=self.threads,
            questions=self.completed + self.failed,
            wall_s=round(self.wall_s, 1),
            questions_per_min=round(self.completed / self.wall_s * 60, 1),
            tokens_per_s=round(self.tokens / self.wall_s, 1),
            completed=self.completed,
            failed=self.failed,
            mean_item_s=round(statistics.fmean(self.item_s), 2) if self.item_s else 0.0,
            load_avg_1m=round(statistics.fmean(self.loads), 2),
            load_avg_max_1m=round(max(self.loads), 2),
            idle=self.idle,
            during_batch=self.during,
            fifo_estimate_ms=self.fifo_ms,
            failures=self.failures,
        )


def p50(values: list[float]) -> float:
    return round(statistics.median(values), 1) if values else 0.0


def print_report(runs: list[Run]) -> None:
    base = runs[0]
    print(
        f"\n{'workers':>7} {'threads':>7} {'questions':>9} {'wall s':>7} {'questions/min':>13} {'tokens/s':>8} "
        f"{'speedup':>7} {'item s':>6} {'failed':>6} {'load (max)':>12}"
    )
    for run in runs:
        print(
            f"{run.workers:>7} {run.threads_per_worker:>7} {run.questions:>9} {run.wall_s:>7.1f} "
            f"{run.questions_per_min:>13.1f} {run.tokens_per_s:>8.1f} "
            f"{run.questions_per_min / base.questions_per_min:>6.2f}x {run.mean_item_s:>6.2f} {run.failed:>6} "
            f"{run.load_avg_1m:>5.2f} ({run.load_avg_max_1m:.2f})"
        )
    for run in runs:
        for reason, count in run.failures.items():
            print(f"  {run.workers} worker(s): {count} failed: {reason}")
    print("\ninteractive time to first token, ms (client side; p50 / max over the probes)")
    print(f"{'workers':>7} {'idle':>15} {'during batch':>15} {'queue wait':>15} {'FIFO estimate':>15}")
    for run in runs:
        idle = [p.client_ttft_ms for p in run.idle]
        busy = [p.client_ttft_ms for p in run.during_batch]
        wait = [p.queue_ms for p in run.during_batch]
        fifo = run.fifo_estimate_ms
        print(
            f"{run.workers:>7} {p50(idle):>7.0f} / {max(idle):>5.0f} {p50(busy):>7.0f} / {max(busy):>5.0f} "
            f"{p50(wait):>7.0f} / {max(wait):>5.0f} {p50(fifo):>7.0f} / {max(fifo):>5.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2", help="worker counts to compare (default 1,2)")
    parser.add_argument("--questions", type=int, default=100, help="questions per worker count (100)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds the questions are split into (2)")
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--max-reasoning-tokens", type=int, default=48)
    parser.add_argument("--probes", type=int, default=3, help="interactive questions per phase and round (3)")
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    rng = random.Random(args.seed)
    items = questions(args.questions, args.seed)
    chunks = [items[r :: args.rounds] for r in range(args.rounds)]
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as cleanup:
        configs = []
        for workers in (int(n) for n in args.workers.split(",")):
            config = Config(Path(tmp), workers, max(1, cores // workers))
            cleanup.callback(config.stop)
            config.start(args)
            configs.append(config)
        for round_no, chunk in enumerate(chunks):
            # Alternate, and reverse the order every other round, so load from elsewhere on the
            # machine falls on every configuration alike.
            for config in configs if round_no % 2 == 0 else reversed(configs):
                print(f"round {round_no + 1}: {config.workers} worker(s) x {config.threads} thread(s), "
                      f"{len(chunk)} questions ...", flush=True)  # fmt: skip
                config.throughput(chunk, args, f"r{round_no}")
                config.probe(args.probes, args, rng)
        runs = [config.result() for config in configs]
    print_report(runs)
    summary = {
        "model": Settings().served_model_name,
        "cores": cores,
        "questions": args.questions,
        "rounds": args.rounds,
        "max_tokens": args.max_tokens,
        "max_reasoning_tokens": args.max_reasoning_tokens,
        "baseline_workers": runs[0].workers,
        "runs": [
            {**asdict(run), "speedup": round(run.questions_per_min / runs[0].questions_per_min, 2)} for run in runs
        ],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=2))
    print(f"\nwritten to {RESULTS}")


if __name__ == "__main__":
    main()
