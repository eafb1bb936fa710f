"""Resuming a greedy job on another worker: does it end with the uninterrupted text, and what
does going on cost?

In one process, with the real model, as two workers would: each question is answered once
without interruption (the worker's context first holds another job, as on a busy worker), then
resumed from several cut points on a "second worker" whose context holds yet another job. Each
resume is done both ways a worker can evaluate the kept tokens:

- **exact** (`THINKSTREAM_RESUME_EXACT=true`, the default): one token at a time, as they were
  evaluated when generated (the worker's closing tag in one piece);
- **batched**: all in llama.cpp batches, the usual way to evaluate a prompt.

For each it records whether the final tokens equal the uninterrupted ones, where the first
difference is (tokens after the cut), and the time from the start of the resume to its first
new token. The baseline of the same run is the old behaviour: every kept token generated again.

Questions: eval/questions.jsonl without the four looked at while writing the code (0, 2, 5, 7).
Prints a table and writes bench/results/resume.json.

    .venv/bin/python -m bench.resume [--questions 16] [--cuts 3] [--max-tokens 256] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path
from typing import Any

from services.engine.model import load_model
from services.inference.engine import LlamaEngine, Sampling
from services.inference.generation import Generation, Outcome
from shared.schemas import ChatMessage
from shared.settings import Settings

RESULTS = Path(__file__).parent / "results" / "resume.json"
QUESTIONS = Path(__file__).parent.parent / "eval" / "questions.jsonl"
EXPLORED = {0, 2, 5, 7}
GREEDY = Sampling(temperature=0.0, top_p=1.0, seed=None)


def questions(limit: int) -> list[str]:
    rows = [json.loads(line)["question"] for line in QUESTIONS.read_text().splitlines() if line.strip()]
    return [q for i, q in enumerate(rows) if i not in EXPLORED][:limit]


class Worker:
    def __init__(self, engine: LlamaEngine, max_tokens: int, n_ctx: int) -> None:
        self.engine = engine
        self.max_tokens = max_tokens
        self.n_ctx = n_ctx

    def generation(self, prompt: list[int]) -> Generation:
        return Generation(
            self.engine,
            prompt,
            max_tokens=self.max_tokens,
            max_reasoning_tokens=self.max_tokens * 3 // 4,
            n_ctx=self.n_ctx,
            sampling=GREEDY,
        )

    def busy_with(self, other: list[int]) -> None:
        """Leave another job's prompt in the context, as a worker that just ran one."""
        self.engine.prepare(other)
        next(self.engine.stream(other, GREEDY), None)

    def answer(self, prompt: list[int]) -> tuple[Outcome, list[float]]:
        """The uninterrupted run, and when (seconds from its start) each token came."""
        generation = self.generation(prompt)
        stamps: list[float] = []
        start = time.perf_counter()

        def on_deltas(deltas: object, out: Outcome) -> bool:
            while len(stamps) < len(out.tokens):
                stamps.append(time.perf_counter() - start)
            return True

        self.engine.prepare(prompt)
        return generation.run(on_deltas), stamps

    def resume(self, prompt: list[int], whole: Outcome, cut: int, mode: str) -> dict[str, Any]:
        generation = self.generation(prompt)
        close = whole.forced_close if whole.forced_close is not None and whole.forced_close.at_token <= cut else None
        generation.restore(whole.tokens[:cut], [0.0] * cut, close)
        start = time.perf_counter()
        first: list[float] = []

        def on_deltas(deltas: object, out: Outcome) -> bool:
            if not first:
                first.append(time.perf_counter())
            return True

        if mode == "exact":
            self.engine.prepare(prompt, generation.replay_chunks())
        else:
            self.engine.prepare(generation.context)
        outcome = generation.run(on_deltas)
        diverged = next((i for i, (a, b) in enumerate(zip(outcome.tokens, whole.tokens, strict=False)) if a != b), None)
        if diverged is None and len(outcome.tokens) != len(whole.tokens):
            diverged = min(len(outcome.tokens), len(whole.tokens))
        return {
            "cut": cut,
            "mode": mode,
            "same": diverged is None,
            "diverged_after": None if diverged is None else diverged - cut,
            "resume_to_first_token_ms": ((first[0] if first else time.perf_counter()) - start) * 1000,
            "regenerated_before": cut,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=16)
    parser.add_argument("--cuts", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()

    settings = Settings()
    llm = load_model(
        settings.model_path, 2048, n_threads=args.threads, n_batch=settings.n_batch, flash_attn=settings.flash_attn
    )
    worker = Worker(LlamaEngine(llm), args.max_tokens, 2048)
    rng = random.Random(args.seed)
    asked = questions(args.questions)
    prompts = [worker.engine.prompt_tokens([ChatMessage(role="user", content=q)]) for q in asked]
    rows: list[dict[str, Any]] = []
    for index, prompt in enumerate(prompts):
        worker.busy_with(prompts[index - 1])
        whole, stamps = worker.answer(prompt)
        n = len(whole.tokens)
        cuts = sorted(rng.sample(range(1, n), min(args.cuts, n - 1))) if n > 1 else []
        for cut in cuts:
            for mode in ("exact", "batched"):
                worker.busy_with(prompts[(index + 1) % len(prompts)])
                row = worker.resume(prompt, whole, cut, mode)
                # The old way, starting over: the next new token came after all of them again.
                row.update(question=index, tokens=n, restart_to_first_token_ms=stamps[cut] * 1000)
                rows.append(row)
        print(f"question {index + 1}/{len(prompts)}: {n} tokens, cuts {cuts}", flush=True)

    summary: dict[str, Any] = {"model": settings.served_model_name, "threads": args.threads, "rows": rows}
    print(f"\n{'resume mode':12}{'resumes':>9}{'same text':>11}{'diverged after (tokens)':>26}{'to 1st token ms':>17}")
    for mode in ("exact", "batched"):
        mine = [r for r in rows if r["mode"] == mode]
        diverged = sorted(r["diverged_after"] for r in mine if not r["same"])
        late = f"median {statistics.median(diverged):.0f}, min {diverged[0]}" if diverged else "-"
        ms = statistics.median(r["resume_to_first_token_ms"] for r in mine)
        same = sum(r["same"] for r in mine)
        print(f"{mode:12}{len(mine):9}{same:>6}/{len(mine):<4}{late:>26}{ms:17.0f}")
        summary[mode] = {"resumes": len(mine), "same": same, "diverged_after": diverged, "to_first_token_ms": ms}
    restarts = [r for r in rows if r["mode"] == "exact"]
    if restarts:
        cut = statistics.median(r["cut"] for r in restarts)
        ms = statistics.median(r["restart_to_first_token_ms"] for r in restarts)
        print(f"{'restart (old)':12}{len(restarts):9}{'':>11}{'':>26}{ms:17.0f}")
        print(f"\ntokens generated again per crash: starting over, median {cut:.0f}; resuming, 0")
        summary["restart"] = {"cut_median": cut, "to_first_token_ms": ms}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=2))
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
