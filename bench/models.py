"""Several models on one node: what each worker costs in memory, and what routing by model does to
a model's queue wait.

Memory: worker processes on a real stack, measured from /proc (RSS, and PSS, which splits pages
shared between processes, such as a model file two workers map): one worker of model A alone
(the baseline), two workers of two different models (A and B, B a GGUF with Qwen3's template and
tokens, so a different file), and two workers of the same model A.

Queue wait: one worker of A and one of B. A burst of questions for A, first with B idle (the
baseline), then right after a burst for B that keeps B's worker busy: with a pool per model, A's
questions wait only behind A's own. Then the time a question for a configured model with no
worker takes to fail (THINKSTREAM_MODEL_WAIT_S).

    python -m bench.models [--burst 4] [--out bench/results/models.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from shared.settings import embedded_model_path
from tests.support.stack import Stack
from tests.support.target_models import TARGETS, write_target_model

QUESTION = "A farmer has 3 pens with 4 sheep each. How many sheep?"
WAIT_S = 5


def memory_kb(pid: int) -> dict[str, int]:
    rollup = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
    fields = {line.split(":")[0]: int(line.split()[1]) for line in rollup[1:] if line.split()[-1] == "kB"}
    return {"rss_kb": fields["Rss"], "pss_kb": fields["Pss"]}


def ask(url: str, model: str, max_tokens: int = 48) -> dict[str, Any]:
    body = {"model": model, "messages": [{"role": "user", "content": QUESTION}], "max_tokens": max_tokens}
    response = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=600)
    result: dict[str, Any] = {"status": response.status_code, **response.json()}
    return result


def wait_workers(stack: Stack, count: int) -> None:
    deadline = time.monotonic() + 120
    while httpx.get(f"{stack.url}/readyz", timeout=5).json().get("workers", 0) < count:
        if time.monotonic() > deadline:
            raise RuntimeError("workers did not come up")
        time.sleep(0.2)


def models_env(files: dict[str, Path]) -> dict[str, str]:
    models = [{"name": name, "path": str(path)} for name, path in files.items()]
    models.append({"name": "ghost", "path": str(files["A"]), "workers": 0})
    return {"THINKSTREAM_MODELS": json.dumps(models), "THINKSTREAM_MODEL_WAIT_S": str(WAIT_S)}


def measure_memory(folder: Path, files: dict[str, Path], workers: list[str]) -> list[dict[str, Any]]:
    with Stack(folder / "-".join(workers), worker_models=workers, env=models_env(files)) as stack:
        wait_workers(stack, len(workers))
        for model in set(workers):
            ask(stack.url, model, max_tokens=16)  # a job touches the weights and the KV cache
        rows = []
        for index, model in enumerate(workers):
            process = stack.processes[f"worker-{index}"]
            rows.append({"model": model, **memory_kb(process.pid)})
        return rows


def queue_waits(url: str, model: str, burst: int) -> list[float]:
    with ThreadPoolExecutor(burst) as pool:
        answers = list(pool.map(lambda _: ask(url, model), range(burst)))
    return [a["timings"]["queue_ms"] for a in answers if a["status"] == 200]


def measure_routing(folder: Path, files: dict[str, Path], burst: int) -> dict[str, Any]:
    with Stack(folder / "routing", worker_models=["A", "B"], env=models_env(files)) as stack:
        wait_workers(stack, 2)
        ask(stack.url, "A", 8)
        ask(stack.url, "B", 8)
        alone = queue_waits(stack.url, "A", burst)
        with ThreadPoolExecutor(2 * burst) as pool:
            flood = [pool.submit(ask, stack.url, "B") for _ in range(2 * burst)]
            time.sleep(0.5)  # B's questions are queued first
            beside = queue_waits(stack.url, "A", burst)
            b_waits = [f.result()["timings"]["queue_ms"] for f in flood]
        started = time.monotonic()
        ghost = ask(stack.url, "ghost")
        ghost_s = time.monotonic() - started
    return {
        "A_alone_queue_ms": alone,
        "A_beside_busy_B_queue_ms": beside,
        "B_flood_queue_ms": b_waits,
        "ghost_status": ghost["status"],
        "ghost_error": ghost.get("error", {}).get("code"),
        "ghost_failed_after_s": round(ghost_s, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--burst", type=int, default=4)
    parser.add_argument("--out", type=Path, default=Path("bench/results/models.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = {"A": embedded_model_path(), "B": write_target_model(TARGETS["qwen3"], folder / "b.gguf")}
        memory = {
            "one model, one worker": measure_memory(folder, files, ["A"]),
            "two models, one worker each": measure_memory(folder, files, ["A", "B"]),
            "one model, two workers": measure_memory(folder, files, ["A", "A"]),
        }
        routing = measure_routing(folder, files, args.burst)
    print(f"{'setup':30} {'worker':8} {'RSS MB':>8} {'PSS MB':>8}")
    for setup, rows in memory.items():
        for row in rows:
            print(f"{setup:30} {row['model']:8} {row['rss_kb'] / 1024:8.0f} {row['pss_kb'] / 1024:8.0f}")
    print()
    print(f"{'queue wait of model A':40} {'mean ms':>8} {'max ms':>8}")
    for label, key in (
        ("A alone (baseline)", "A_alone_queue_ms"),
        ("A while B is flooded", "A_beside_busy_B_queue_ms"),
    ):
        values = routing[key]
        print(f"{label:40} {statistics.mean(values):8.0f} {max(values):8.0f}")
    b = routing["B_flood_queue_ms"]
    print(f"{'B flood (its own queue)':40} {statistics.mean(b):8.0f} {max(b):8.0f}")
    print(
        f"\nghost model (no worker): HTTP {routing['ghost_status']} {routing['ghost_error']} "
        f"after {routing['ghost_failed_after_s']} s (THINKSTREAM_MODEL_WAIT_S={WAIT_S})"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"memory": memory, "routing": routing, "cpus": os.cpu_count()}, indent=2))
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
