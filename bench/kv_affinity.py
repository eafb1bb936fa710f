"""Time to first token of a conversation's second turn, with and without KV reuse.

Two real stacks, two inference workers each, run one after the other on the same machine:

- **affinity**: the product's defaults. Turn 2 goes back to the worker that answered turn 1,
  which restores the conversation's KV state from its RAM cache;
- **cold**: `THINKSTREAM_AFFINITY=false`, `THINKSTREAM_KV_CACHE_MB=0`: turn 2 goes to whichever
  worker is free and evaluates the whole prompt.

Each round is a new conversation with a ~1,500-token history. Between its two turns, two other
users' questions run (one per worker), as they would on a shared service. The client measures
time to first token from the moment it sends turn 2. Prints a table and writes
bench/results/kv_affinity.json.

    .venv/bin/python -m bench.kv_affinity [--rounds 3] [--history-tokens 1700]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from bench.chat_stream import chunks, has_text
from tests.support.stack import Stack

RESULTS = Path(__file__).parent / "results" / "kv_affinity.json"
TOPICS = ["rivers", "bridges", "libraries", "orchards", "harbours", "railways", "glaciers", "markets"]


def history(round_no: int, tokens: int) -> list[dict[str, str]]:
    """A distinct ~`tokens`-token conversation per round (about 4 characters per token)."""
    topic = TOPICS[round_no % len(TOPICS)]
    line = f"Note {round_no}: the committee reviewed the {topic} report, section by section, and agreed. "
    document = line * max(1, tokens * 4 // len(line))
    return [
        {"role": "system", "content": f"You answer questions about this document.\n\n{document}"},
        {"role": "user", "content": f"In one sentence, what is the document about? (round {round_no})"},
    ]


def chat(url: str, messages: list[dict[str, str]], max_tokens: int) -> dict[str, Any]:
    """Stream one completion; returns the answer, client-side TTFT and the server's figures."""
    body = {"messages": messages, "stream": True, "max_tokens": max_tokens, "max_reasoning_tokens": max_tokens // 2}
    answer, first, final = [], None, {}
    start = time.perf_counter()
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=300) as response:
        for chunk in chunks(response):
            if first is None and has_text(chunk):
                first = time.perf_counter()
            for choice in chunk["choices"]:
                answer.append(choice["delta"].get("content") or "")
                if choice["finish_reason"] is not None:
                    final = chunk
    return {
        "answer": "".join(answer),
        "ttft_ms": ((first or time.perf_counter()) - start) * 1000,
        "cache_n": final["timings"]["cache_n"],
        "prompt_tokens": final["usage"]["prompt_tokens"],
        "server_ttft_ms": final["timings"]["ttft_ms"],
        "job_id": final["thinkstream"]["job_id"],
    }


def run_setting(name: str, env: dict[str, str], rounds: int, history_tokens: int, max_tokens: int) -> dict[str, Any]:
    turns = []
    with tempfile.TemporaryDirectory() as tmp, Stack(Path(tmp), workers=2, env=env) as stack:
        for round_no in range(rounds):
            messages = history(round_no, history_tokens)
            first = chat(stack.url, messages, max_tokens)
            # Two other users' questions, one per worker, between the turns.
            others = [[{"role": "user", "content": f"Name a colour. ({name} {round_no} {i})"}] for i in range(2)]
            with ThreadPoolExecutor(2) as pool:
                list(pool.map(lambda m: chat(stack.url, m, 32), others))
            follow_up = [
                *messages,
                {"role": "assistant", "content": first["answer"]},
                {"role": "user", "content": "And who reviewed it?"},
            ]
            second = chat(stack.url, follow_up, max_tokens)
            turns.append({"round": round_no, "turn1": first, "turn2": second})
            print(
                f"  {name} round {round_no}: turn 1 TTFT {first['ttft_ms']:.0f} ms ({first['prompt_tokens']} tokens), "
                f"turn 2 TTFT {second['ttft_ms']:.0f} ms ({second['prompt_tokens']} tokens, {second['cache_n']} cached)"
            )
    return {
        "setting": name,
        "env": env,
        "turns": turns,
        "turn1_ttft_ms": statistics.median(t["turn1"]["ttft_ms"] for t in turns),
        "turn2_ttft_ms": statistics.median(t["turn2"]["ttft_ms"] for t in turns),
        "turn2_cached_tokens": statistics.median(t["turn2"]["cache_n"] for t in turns),
        "turn2_prompt_tokens": statistics.median(t["turn2"]["prompt_tokens"] for t in turns),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--history-tokens", type=int, default=1700)
    parser.add_argument("--max-tokens", type=int, default=48)
    args = parser.parse_args()
    settings = {
        "affinity": {},
        "cold": {"THINKSTREAM_AFFINITY": "false", "THINKSTREAM_KV_CACHE_MB": "0"},
    }
    results = [
        run_setting(name, env, args.rounds, args.history_tokens, args.max_tokens) for name, env in settings.items()
    ]
    warm, cold = results
    ratio = warm["turn2_ttft_ms"] / cold["turn2_ttft_ms"]
    print()
    print(f"{'setting':<10} {'turn 1 TTFT':>12} {'turn 2 TTFT':>12} {'turn 2 prompt':>14} {'cached':>8}")
    for r in results:
        print(
            f"{r['setting']:<10} {r['turn1_ttft_ms']:>10.0f}ms {r['turn2_ttft_ms']:>10.0f}ms "
            f"{r['turn2_prompt_tokens']:>14.0f} {r['turn2_cached_tokens']:>8.0f}"
        )
    print(f"\nturn 2 TTFT with affinity = {ratio:.1%} of cold (target <= 30%)")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"ratio": ratio, "results": results}, indent=2))


if __name__ == "__main__":
    main()
