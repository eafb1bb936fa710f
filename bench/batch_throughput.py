"""Batch throughput with 1 and 2 inference workers, and what a running batch costs a person chatting.

For each worker count N (threads per worker = cores // N), a fresh stack on one Redis:

1. **idle**: a few interactive questions, one at a time, on an idle stack: time to first token
   (client side, from sending the request to the first streamed token) is the baseline;
2. **throughput**: one batch of `--questions` short questions (`POST /v1/batches`), timed from
   submission until the batch is `completed`; N = 1 is the baseline for the speedup;
3. **during a batch**: another batch keeps every worker busy while the same interactive
   questions are asked at random moments. Batch items wait on a lower-priority queue, so an
   interactive question waits at most for the items the workers are running, not for the batch.
   For comparison, `fifo_estimate_ms` is what the wait would be on a first-come queue: the
   batch items still queued, times the mean item time, divided among the workers.

Prints a table and writes bench/results/batch_throughput.json.

    .venv/bin/python -m bench.batch_throughput [--workers 1,2] [--questions 100] [--max-tokens 96]
"""

from __future__ import annotations

import argparse
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
from services.runtime.redis_server import RedisServer
from shared import keys
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
    """The machine's load when the batch went in: other processes on the cores skew a run."""
    load_avg_end_1m: float
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
    return int(scrape(url).get(("thinkstream_queue_depth", (("queue", keys.BATCH_QUEUE),)), 0))


def run_once(redis: RedisServer, data_dir: Path, workers: int, threads: int, args: argparse.Namespace) -> Run:
    # The product's liveness defaults, not the test stack's quick ones: on a busy machine a 3 s
    # heartbeat deadline declares a working worker dead and its job is retried. Batch items may
    # wait longer than an interactive job's queue-wait limit (the worker applies it to all jobs).
    env = {
        "THINKSTREAM_N_THREADS": str(threads),
        "THINKSTREAM_LOG_LEVEL": "WARNING",
        "THINKSTREAM_HEARTBEAT_INTERVAL_S": "2",
        "THINKSTREAM_WORKER_TTL_S": "10",
        "THINKSTREAM_MAX_QUEUE_WAIT_S": "86400",
    }
    rng = random.Random(args.seed)
    with (
        Stack(data_dir / f"workers-{workers}", workers=workers, env=env, redis=redis) as stack,
        httpx.Client(base_url=stack.url, timeout=600) as client,
    ):
        wait_for_workers(stack.url, workers)
        warm = client.post("/v1/batches", content=batch_body(["Hi"] * workers, args, "warm"), headers=NDJSON)
        wait_batch(client, warm.json()["id"])

        idle = [ask(client, args, rng) for _ in range(args.probes)]

        load = os.getloadavg()[0]
        body = batch_body(questions(args.questions, args.seed), args, "q")
        start = time.perf_counter()
        created = client.post("/v1/batches", content=body, headers=NDJSON)
        created.raise_for_status()
        batch = wait_batch(client, created.json()["id"])
        wall_s = time.perf_counter() - start
        load_end = os.getloadavg()[0]
        output = client.get(f"/v1/files/{batch['output_file_id']}/content").text.splitlines()
        failures: dict[str, int] = {}
        if batch["error_file_id"]:
            for raw in client.get(f"/v1/files/{batch['error_file_id']}/content").text.splitlines():
                line = json.loads(raw)
                reason = (line["error"] or line["response"]["body"]["error"])["message"]
                failures[reason] = failures.get(reason, 0) + 1
        bodies = [json.loads(line)["response"]["body"] for line in output]
        tokens = sum(b["usage"]["completion_tokens"] for b in bodies)
        item_s = statistics.fmean((b["timings"]["total_ms"] - b["timings"]["queue_ms"]) / 1000 for b in bodies)

        background = client.post(
            "/v1/batches", content=batch_body(questions(args.probes * 8, args.seed + 1), args, "bg"), headers=NDJSON
        ).json()
        during, fifo = [], []
        time.sleep(item_s)  # every worker is on a batch item now
        for _ in range(args.probes):
            time.sleep(rng.uniform(0.2, item_s))  # land anywhere inside the running items
            queued = batch_queue_depth(stack.url)
            probe = ask(client, args, rng)
            probe.batch_items_queued = queued
            during.append(probe)
            fifo.append(round(queued * item_s * 1000 / workers, 1))
        client.post(f"/v1/batches/{background['id']}/cancel")
        wait_batch(client, background["id"])
    counts = batch["request_counts"]
    return Run(
        workers=workers,
        threads_per_worker=threads,
        questions=args.questions,
        wall_s=round(wall_s, 1),
        questions_per_min=round(counts["completed"] / wall_s * 60, 1),
        tokens_per_s=round(tokens / wall_s, 1),
        completed=counts["completed"],
        failed=counts["failed"],
        mean_item_s=round(item_s, 2),
        load_avg_1m=round(load, 2),
        load_avg_end_1m=round(load_end, 2),
        idle=idle,
        during_batch=during,
        fifo_estimate_ms=fifo,
        failures=failures,
    )


def p50(values: list[float]) -> float:
    return round(statistics.median(values), 1) if values else 0.0


def print_report(runs: list[Run]) -> None:
    base = runs[0]
    print(
        f"\n{'workers':>7} {'threads':>7} {'questions':>9} {'wall s':>7} {'questions/min':>13} {'tokens/s':>8} "
        f"{'speedup':>7} {'item s':>6} {'failed':>6} {'load':>11}"
    )
    for run in runs:
        print(
            f"{run.workers:>7} {run.threads_per_worker:>7} {run.questions:>9} {run.wall_s:>7.1f} "
            f"{run.questions_per_min:>13.1f} {run.tokens_per_s:>8.1f} "
            f"{run.questions_per_min / base.questions_per_min:>6.2f}x {run.mean_item_s:>6.2f} {run.failed:>6} "
            f"{run.load_avg_1m:>5.2f}-{run.load_avg_end_1m:<5.2f}"
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
    parser.add_argument("--questions", type=int, default=100, help="batch size for the throughput run (100)")
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--max-reasoning-tokens", type=int, default=48)
    parser.add_argument("--probes", type=int, default=5, help="interactive questions per phase (5)")
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    runs = []
    with tempfile.TemporaryDirectory() as tmp, RedisServer(Path(tmp) / "redis") as redis:
        for workers in (int(n) for n in args.workers.split(",")):
            threads = max(1, cores // workers)
            print(f"{workers} worker(s) x {threads} thread(s): batch of {args.questions} ...", flush=True)
            runs.append(run_once(redis, Path(tmp), workers, threads, args))
            run = runs[-1]
            print(f"  {run.questions_per_min:.1f} questions/min, {run.tokens_per_s:.1f} tokens/s", flush=True)
    print_report(runs)
    summary = {
        "model": Settings().served_model_name,
        "cores": cores,
        "questions": args.questions,
        "max_tokens": args.max_tokens,
        "max_reasoning_tokens": args.max_reasoning_tokens,
        "probes": args.probes,
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
