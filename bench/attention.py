"""FlashAttention against llama.cpp's plain attention kernels, on this CPU, at several context depths.

`THINKSTREAM_FLASH_ATTN` picks the kernel. Which is faster depends on the CPU, and on how deep
into its context a sequence is: a reasoning model decodes hundreds to thousands of tokens into
every answer, and a conversation's next turn, a resumed job and the budget message are all
evaluated after a long cached prefix. This runs the batched worker's own backend
(`services/inference/batched_llama.py`) twice in one process, once with each kernel, and at
each depth times, alternating between the two so the machine's drift falls on both:

- a prompt piece of 32 tokens evaluated after `depth` tokens (one sequence);
- a decode step of `--rows` sequences, each `depth` tokens deep (the worker's slots).

Prints a table and writes bench/results/attention.json. Pick the setting with the figures at
the depths your answers reach.

    .venv/bin/python -m bench.attention [--depths 32,256,1024,2048] [--rows 4] [--repeats 5]
        [--threads 2] [--model PATH]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from llama_cpp import Llama

from services.engine.model import load_model
from services.inference.batched_llama import LlamaBackend
from services.inference.engine import Sampling
from services.inference.slots import Row
from shared.settings import Settings

RESULTS = Path(__file__).parent / "results" / "attention.json"
PIECE = 32
"""Tokens in the prompt piece: about the budget message and closing tag, or a short next turn."""
DECODE_STEPS = 6
TEXT = (
    "A reasoning model thinks out loud before it answers: it weighs the question, tries a few "
    "numbers, checks them against each other and writes down what it concludes at each step. "
)
KERNELS = {"flash": True, "plain": False}


class Side:
    """One kernel's context, its sequences filled to the depth being measured."""

    def __init__(self, llm: Llama, rows: int, n_ctx_seq: int, threads: int, n_batch: int) -> None:
        self.backend = LlamaBackend(llm, n_seq=rows, n_ctx_seq=n_ctx_seq, n_batch=n_batch, n_threads=threads)
        for seq in range(rows):
            self.backend.set_sampling(seq, Sampling(0.0, 1.0, 1))
        self.rows = rows
        self.filled = 0

    def fill(self, tokens: list[int], depth: int) -> None:
        """Evaluate every sequence up to `depth` tokens (beyond what it holds already)."""
        chunk = self.backend.n_batch
        for seq in range(self.rows):
            for start in range(self.filled, depth, chunk):
                end = min(depth, start + chunk)
                self.backend.step([Row(seq, start, tokens[start:end], sample=False)])
        self.filled = depth

    def piece_ms(self, tokens: list[int], depth: int) -> float:
        started = time.perf_counter()
        self.backend.step([Row(0, depth, tokens[depth : depth + PIECE], sample=True)])
        elapsed = time.perf_counter() - started
        self.backend.truncate(0, depth)
        return elapsed * 1000

    def decode_ms(self, tokens: list[int], depth: int) -> float:
        times = []
        for step in range(DECODE_STEPS):
            rows = [Row(seq, depth + step, [tokens[depth + step]], sample=True) for seq in range(self.rows)]
            started = time.perf_counter()
            self.backend.step(rows)
            times.append(time.perf_counter() - started)
        for seq in range(self.rows):
            self.backend.truncate(seq, depth)
        return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depths", default="32,256,1024,2048", help="context depths, comma-separated")
    parser.add_argument("--rows", type=int, default=4, help="sequences decoded together (the worker's slots)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", type=Path, help="a GGUF file (default: the configured model)")
    args = parser.parse_args()
    try:
        depths = sorted({int(d) for d in args.depths.split(",") if d.strip()})
    except ValueError:
        parser.error(f"--depths {args.depths!r}: give whole numbers separated by commas, e.g. 32,256,1024")
    if not depths or depths[0] < 1 or args.rows < 1 or args.repeats < 1:
        parser.error("--depths, --rows and --repeats must be at least 1")

    settings = Settings()
    path = args.model or settings.model_path
    n_ctx_seq = depths[-1] + PIECE + DECODE_STEPS + 8
    sides: dict[str, Side] = {}
    tokens: list[int] = []
    for name, flash in KERNELS.items():
        llm = load_model(path, n_ctx_seq, n_threads=args.threads, n_batch=settings.n_batch, flash_attn=flash)
        sides[name] = Side(llm, args.rows, n_ctx_seq, args.threads, settings.n_batch)
        if not tokens:
            text = TEXT * (n_ctx_seq // 20 + 1)
            tokens = llm.tokenize(text.encode(), add_bos=False)[:n_ctx_seq]
    rows_out: list[dict[str, object]] = []
    print(f"{path.name}, {args.threads} threads, {args.rows} rows per decode step, median of {args.repeats}")
    print(f"{'depth':>6}  {'prompt piece of 32, ms':>32}  {f'decode step of {args.rows} rows, ms':>32}")
    print(f"{'':>6}  {'flash':>10}{'plain':>10}{'plain/flash':>12}  {'flash':>10}{'plain':>10}{'plain/flash':>12}")
    for depth in depths:
        for side in sides.values():
            side.fill(tokens, depth)
        piece: dict[str, list[float]] = {name: [] for name in sides}
        decode: dict[str, list[float]] = {name: [] for name in sides}
        for repeat in range(args.repeats):
            order = list(sides) if repeat % 2 == 0 else list(reversed(sides))
            for name in order:
                piece[name].append(sides[name].piece_ms(tokens, depth))
                decode[name].append(sides[name].decode_ms(tokens, depth))
        p = {name: round(statistics.median(v), 1) for name, v in piece.items()}
        d = {name: round(statistics.median(v), 1) for name, v in decode.items()}
        rows_out.append({"depth": depth, "piece_ms": p, "decode_step_ms": d})
        print(
            f"{depth:>6}  {p['flash']:>10.1f}{p['plain']:>10.1f}{p['plain'] / p['flash']:>12.2f}"
            f"  {d['flash']:>10.1f}{d['plain']:>10.1f}{d['plain'] / d['flash']:>12.2f}"
        )
    RESULTS.parent.mkdir(exist_ok=True)
    summary = {"model": path.name, "threads": args.threads, "rows": args.rows, "repeats": args.repeats}
    RESULTS.write_text(json.dumps({**summary, "depths": rows_out}, indent=2) + "\n")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
