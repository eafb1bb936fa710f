"""Throughput and memory as inference workers are added: 1, 2, 4 worker processes on one Redis.

For each worker count N, a fresh gateway, post-processing worker and N inference workers (each
with max(1, cores // N) decode threads) serve the same questions, all submitted at once. N = 1
is the baseline. Memory is read from /proc while the workers run: RSS counts the memory-mapped
model in every process, PSS splits shared pages among the processes that map them, so the PSS
of all workers added up is what the fleet really costs.

    .venv/bin/python -m bench.scaling [--workers 1,2,4] [--questions 50] [--max-tokens 128]
                                      [--threads T] [--output FILE]

Prints a table and writes bench/results/scaling.json. llama.cpp's threads wait for each other
at every step, so on a machine where other processes also want the cores, a worker with as many
threads as cores slows down many times over; `--workers 1 --threads 1` gives a baseline that
does not.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from httpx_sse import connect_sse
from prometheus_client.parser import text_string_to_metric_families

from services.runtime.redis_server import RedisServer
from shared.settings import Settings
from tests.support.stack import Stack

RESULTS = Path(__file__).parent / "results" / "scaling.json"
READY_TIMEOUT_S = 120.0
SAMPLE_INTERVAL_S = 0.5
_MAPPING = re.compile(r"^[0-9a-f]+-[0-9a-f]+ ")


def questions(count: int, seed: int) -> list[str]:
    """Short arithmetic and logic questions, different numbers each time."""
    rng = random.Random(seed)
    templates = [
        "What is {a} + {b}?",
        "What is {a} times {c}?",
        "Tom has {a} apples and gives away {c}. How many apples does he have left?",
        "A train travels {b} km in {c} hours. What is its average speed in km per hour?",
        "Pencils cost {c} cents each. How much do {a} pencils cost?",
        "Is {b} an even number? Answer yes or no.",
        "All bloops are razzies and all razzies are lazzies. Are all bloops lazzies? Case {a}.",
        "What is {b} minus {a}?",
        "A box holds {c} eggs. How many boxes are needed for {b} eggs?",
        "Anna is {c} years older than Ben. Ben is {a} years old. How old is Anna?",
    ]
    out = []
    for index in range(count):
        a, b, c = rng.randint(2, 60), rng.randint(61, 400), rng.randint(2, 12)
        out.append(templates[index % len(templates)].format(a=a, b=b, c=c))
    return out


# ---------------------------------------------------------------------------------------------
# Memory


@dataclass
class Memory:
    """Kibibytes, from /proc/PID/smaps_rollup, plus the model file's own mapping from smaps."""

    rss_kb: int = 0
    pss_kb: int = 0
    shared_kb: int = 0
    private_kb: int = 0
    model_rss_kb: int = 0
    model_pss_kb: int = 0


def read_memory(pid: int, model_path: Path) -> Memory:
    rollup = _fields(Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines())
    memory = Memory(
        rss_kb=rollup.get("Rss", 0),
        pss_kb=rollup.get("Pss", 0),
        shared_kb=rollup.get("Shared_Clean", 0) + rollup.get("Shared_Dirty", 0),
        private_kb=rollup.get("Private_Clean", 0) + rollup.get("Private_Dirty", 0),
    )
    model, inside = str(model_path), False
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        if _MAPPING.match(line):
            inside = line.rstrip().endswith(model)
        elif inside:
            values = _fields([line])
            memory.model_rss_kb += values.get("Rss", 0)
            memory.model_pss_kb += values.get("Pss", 0)
    return memory


def _fields(lines: list[str]) -> dict[str, int]:
    out = {}
    for line in lines:
        name, _, rest = line.partition(":")
        parts = rest.split()
        if len(parts) == 2 and parts[1] == "kB":
            out[name] = int(parts[0])
    return out


class MemorySampler:
    """Samples each worker while the questions run; keeps the peak RSS and the last sample."""

    def __init__(self, pids: dict[str, int], model_path: Path) -> None:
        self._pids = pids
        self._model_path = model_path
        self.last: dict[str, Memory] = {}
        self.peak_rss_kb: dict[str, int] = dict.fromkeys(pids, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> MemorySampler:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def sample(self) -> None:
        for name, pid in self._pids.items():
            memory = read_memory(pid, self._model_path)
            self.last[name] = memory
            self.peak_rss_kb[name] = max(self.peak_rss_kb[name], memory.rss_kb)

    def _loop(self) -> None:
        while not self._stop.wait(SAMPLE_INTERVAL_S):
            self.sample()


# ---------------------------------------------------------------------------------------------
# One worker count


@dataclass
class Run:
    workers: int
    threads_per_worker: int
    questions: int
    wall_s: float
    questions_per_min: float
    tokens_per_s: float
    generated_tokens: int
    failed: int
    failures: dict[str, int]
    """How the failed questions ended: terminal event type and code."""
    ttft_p50_ms: float
    ttft_p95_ms: float
    total_p50_ms: float
    decode_tps_per_job: float
    load_avg_1m: float
    """The machine's load when the questions went in: other processes on the cores skew a run."""
    jobs_per_worker: dict[str, float] = field(default_factory=dict)
    memory: dict[str, Memory] = field(default_factory=dict)
    peak_rss_kb: dict[str, int] = field(default_factory=dict)

    @property
    def fleet_pss_mb(self) -> float:
        return sum(m.pss_kb for m in self.memory.values()) / 1024

    @property
    def fleet_rss_mb(self) -> float:
        return sum(m.rss_kb for m in self.memory.values()) / 1024


def wait_for_workers(url: str, count: int) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if scrape(url).get(("thinkstream_workers", (("kind", "inference"),)), 0) == count:
            return
        time.sleep(0.2)
    raise RuntimeError(f"{count} inference workers did not come up within {READY_TIMEOUT_S:.0f} s")


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def follow(client: httpx.Client, job_id: str) -> dict[str, Any]:
    """The job's terminal event (read from the replayed log, so the order of waiting is free)."""
    with connect_sse(client, "GET", f"/v1/jobs/{job_id}/events") as source:
        for sse in source.iter_sse():
            if sse.event in ("done", "error", "canceled"):
                return json.loads(sse.data)
    raise RuntimeError(f"the stream of job {job_id} ended without a terminal event")


def run_once(redis: RedisServer, data_dir: Path, workers: int, threads: int, args: argparse.Namespace) -> Run:
    settings = Settings()
    # The test stack's 3 s worker TTL would call a starved worker dead on a busy machine, and
    # every question is queued at once: none may be shed for waiting, or throughput is not comparable.
    env = {
        "THINKSTREAM_MAX_QUEUE_WAIT_S": "3600",
        "THINKSTREAM_N_THREADS": str(threads),
        "THINKSTREAM_LOG_LEVEL": "WARNING",
        "THINKSTREAM_HEARTBEAT_INTERVAL_S": str(settings.heartbeat_interval_s),
        "THINKSTREAM_WORKER_TTL_S": str(settings.worker_ttl_s),
    }
    body = {"max_tokens": args.max_tokens, "max_reasoning_tokens": args.max_reasoning_tokens, "seed": args.seed}
    with (
        Stack(data_dir / f"workers-{workers}", workers=workers, env=env, redis=redis) as stack,
        httpx.Client(base_url=stack.url, timeout=600) as client,
    ):
        wait_for_workers(stack.url, workers)
        # Warm up: every worker touches the model once, so the runs compare warm processes.
        warm = [
            client.post("/v1/jobs", json={**body, "prompt": "Hi", "max_tokens": 8}).json()["id"] for _ in range(workers)
        ]
        for job_id in warm:
            follow(client, job_id)
        before = scrape(stack.url)
        load = os.getloadavg()[0]
        pids = {name: process.pid for name, process in stack.processes.items() if name.startswith("worker-")}
        with MemorySampler(pids, settings.model_path) as sampler:
            start = time.time()
            ids = [
                client.post("/v1/jobs", json={**body, "prompt": q}).json()["id"]
                for q in questions(args.questions, args.seed)
            ]
            ends = [follow(client, job_id) for job_id in ids]
        after = scrape(stack.url)
    done = [e for e in ends if e["type"] == "done"]
    results = [e["result"] for e in done]
    wall_s = max(float(e["ts"]) for e in ends) - start
    generated = sum(r["usage"]["reasoning_tokens"] + r["usage"]["answer_tokens"] for r in results)
    ttfts = [r["timings"]["ttft_ms"] for r in results]
    jobs_per_worker = {
        dict(labels)["worker"]: value - before.get((name, labels), 0.0)
        for (name, labels), value in after.items()
        if name == "thinkstream_worker_jobs_total"
    }
    return Run(
        workers=workers,
        threads_per_worker=threads,
        questions=len(ids),
        wall_s=round(wall_s, 2),
        questions_per_min=round(len(done) / wall_s * 60, 1),
        tokens_per_s=round(generated / wall_s, 1),
        generated_tokens=generated,
        failed=len(ends) - len(done),
        failures=dict(
            Counter(f"{e['type']}: {e.get('code', '')} {e.get('message', '')}"[:120] for e in ends if e not in done)
        ),
        ttft_p50_ms=round(statistics.median(ttfts), 1),
        ttft_p95_ms=round(statistics.quantiles(ttfts, n=20)[-1], 1) if len(ttfts) > 1 else ttfts[0],
        total_p50_ms=round(statistics.median(r["timings"]["total_ms"] for r in results), 1),
        decode_tps_per_job=round(statistics.median(r["timings"]["tokens_per_s"] for r in results), 1),
        load_avg_1m=round(load, 2),
        jobs_per_worker=jobs_per_worker,
        memory=sampler.last,
        peak_rss_kb=sampler.peak_rss_kb,
    )


# ---------------------------------------------------------------------------------------------
# Report


def print_report(runs: list[Run], model_mb: float) -> None:
    base = runs[0]
    print(
        f"\n{'workers':>7} {'threads':>7} {'questions/min':>13} {'tokens/s':>9} {'speedup':>7} "
        f"{'decode tok/s/job':>16} {'ttft p50 ms':>11} {'ttft p95 ms':>11} {'failed':>6} {'load':>5}"
    )
    for run in runs:
        print(
            f"{run.workers:>7} {run.threads_per_worker:>7} {run.questions_per_min:>13.1f} {run.tokens_per_s:>9.1f} "
            f"{run.tokens_per_s / base.tokens_per_s:>6.2f}x {run.decode_tps_per_job:>16.1f} "
            f"{run.ttft_p50_ms:>11.0f} {run.ttft_p95_ms:>11.0f} {run.failed:>6} {run.load_avg_1m:>5.2f}"
        )
    print(f"\nmemory per inference worker, MiB (model file: {model_mb:.1f} MiB, memory-mapped)")
    print(
        f"{'workers':>7} {'process':>9} {'RSS':>7} {'peak RSS':>8} {'PSS':>7} {'shared':>7} {'private':>7} "
        f"{'model RSS':>9} {'model PSS':>9}"
    )
    for run in runs:
        for name, m in run.memory.items():
            print(
                f"{run.workers:>7} {name:>9} {m.rss_kb / 1024:>7.1f} {run.peak_rss_kb[name] / 1024:>8.1f} "
                f"{m.pss_kb / 1024:>7.1f} {m.shared_kb / 1024:>7.1f} {m.private_kb / 1024:>7.1f} "
                f"{m.model_rss_kb / 1024:>9.1f} {m.model_pss_kb / 1024:>9.1f}"
            )
        print(f"{run.workers:>7} {'all':>9} {run.fleet_rss_mb:>7.1f} {'':>8} {run.fleet_pss_mb:>7.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2,4", help="worker counts to compare (default 1,2,4)")
    parser.add_argument("--questions", type=int, default=50, help="questions per worker count (default 50)")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--max-reasoning-tokens", type=int, default=64)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--threads", type=int, default=None, help="decode threads per worker (default: cores // N)")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"JSON results (default {RESULTS})")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    cores = os.cpu_count() or 1
    settings = Settings()

    runs = []
    with tempfile.TemporaryDirectory() as tmp, RedisServer(Path(tmp) / "redis") as redis:
        for workers in counts:
            threads = args.threads or max(1, cores // workers)
            print(f"{workers} worker(s) x {threads} thread(s): {args.questions} questions ...", flush=True)
            runs.append(run_once(redis, Path(tmp), workers, threads, args))
            print(f"  {runs[-1].questions_per_min:.1f} questions/min, {runs[-1].tokens_per_s:.1f} tokens/s", flush=True)

    model_mb = settings.model_path.stat().st_size / 2**20
    print_report(runs, model_mb)
    summary = {
        "model": settings.served_model_name,
        "model_file_mb": round(model_mb, 1),
        "cores": cores,
        "questions": args.questions,
        "max_tokens": args.max_tokens,
        "max_reasoning_tokens": args.max_reasoning_tokens,
        "baseline_workers": runs[0].workers,
        "runs": [
            {
                **asdict(run),
                "speedup": round(run.tokens_per_s / runs[0].tokens_per_s, 2),
                "fleet_rss_mb": round(run.fleet_rss_mb, 1),
                "fleet_pss_mb": round(run.fleet_pss_mb, 1),
            }
            for run in runs
        ],
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(summary, indent=2))
    print(f"\nwritten to {args.output}")


if __name__ == "__main__":
    main()
