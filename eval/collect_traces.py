"""Collect real traces: ask a running thinkstream the ladder's questions and save what the model wrote.

Each question is asked once greedily (temperature 0) and `--sampled` times at temperature 0.7
with seeds 1, 2, …. Every finished job becomes one line of the output:

    {"id": "r1-en-00:t0.7:s2", "question_id", "lang", "rung", "mode", "seed", "gold", "choices",
     "question", "reasoning", "answer", "finish_reason", "reasoning_end", "model"}

No label and no verdict are written here: `eval/label_traces.py` adds those, so the checks can
change without asking the model again. Lines already in the output are skipped (resumable).

    .venv/bin/python eval/collect_traces.py --url http://127.0.0.1:8000 [--sampled 2] [-o eval/real_traces.jsonl]
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent
LADDER = ROOT / "ladder.jsonl"
OUT = ROOT / "real_traces.jsonl"
SAMPLED_TEMPERATURE = 0.7
POLL_S = 0.5
JOB_WAIT_S = 600.0


async def ask(client: httpx.AsyncClient, question: dict[str, Any], body: dict[str, Any]) -> dict[str, Any] | None:
    response = await client.post("/v1/jobs", json={"prompt": question["question"], **body})
    response.raise_for_status()
    job_id = response.json()["id"]
    async with asyncio.timeout(JOB_WAIT_S):
        while True:
            view = (await client.get(f"/v1/jobs/{job_id}")).json()
            if view["status"] in ("succeeded", "failed", "canceled"):
                break
            await asyncio.sleep(POLL_S)
    if view["status"] != "succeeded":
        return None
    return view


async def collect(url: str, questions: list[dict[str, Any]], sampled: int, request: dict[str, Any], out: Path) -> int:
    done = set()
    if out.exists():
        done = {json.loads(line)["id"] for line in out.read_text(encoding="utf-8").splitlines() if line.strip()}
    runs = []
    for q in questions:
        runs.append((q, f"{q['id']}:greedy", "greedy", None, {"temperature": 0.0}))
        for seed in range(1, sampled + 1):
            body = {"temperature": SAMPLED_TEMPERATURE, "seed": seed}
            runs.append((q, f"{q['id']}:t{SAMPLED_TEMPERATURE}:s{seed}", "sampled", seed, body))
    todo = [run for run in runs if run[1] not in done]
    print(f"{len(runs)} traces, {len(todo)} to collect", flush=True)
    async with httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(30.0)) as client:
        model = (await client.get("/v1/models")).json()["data"][0]["id"]
        workers = int((await client.get("/readyz")).json()["workers"])
        slots = asyncio.Semaphore(max(1, workers))
        written = 0

        async def one(q: dict[str, Any], trace_id: str, mode: str, seed: int | None, body: dict[str, Any]) -> None:
            nonlocal written
            async with slots:
                view = await ask(client, q, {**request, **body})
            if view is None:
                print(f"{trace_id}: job did not succeed", flush=True)
                return
            row = {
                "id": trace_id,
                "question_id": q["id"],
                "lang": q["lang"],
                "rung": q.get("rung"),
                "mode": mode,
                "seed": seed,
                "gold": q["gold"],
                "choices": q.get("choices"),
                "question": q["question"],
                "reasoning": view["reasoning"],
                "answer": view["answer"],
                "finish_reason": view["finish_reason"],
                "reasoning_end": view["reasoning_end"],
                "model": model,
            }
            with out.open("a", encoding="utf-8") as f:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
            written += 1
            if written % 20 == 0:
                print(f"{written}/{len(todo)}", flush=True)

        await asyncio.gather(*(one(*run) for run in todo))
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--questions", type=Path, default=LADDER)
    parser.add_argument("--sampled", type=int, default=2, help="sampled traces per question (default 2)")
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--max-reasoning-tokens", type=int, default=192)
    parser.add_argument("-o", "--output", type=Path, default=OUT)
    args = parser.parse_args()
    questions = [json.loads(line) for line in args.questions.read_text(encoding="utf-8").splitlines() if line.strip()]
    request = {"max_tokens": args.max_tokens, "max_reasoning_tokens": args.max_reasoning_tokens}
    written = asyncio.run(collect(args.url, questions, args.sampled, request, args.output))
    print(f"wrote {written} traces to {args.output}")


if __name__ == "__main__":
    main()
