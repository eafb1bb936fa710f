"""Decode speed and time to first token: llama-cpp-python in-process vs thinkstream end to end.

One run, same model, prompt, thread count and seed. Rounds alternate between the sides so
machine noise hits them alike: in-process, thinkstream's jobs API (a POST, then the events'
stream: two requests), in-process again and its OpenAI streaming chat API (one request). Both
sides answer the same questions in the same order, so before each timed request both hold the
same context and reuse the same prefix of the prompt; the chat API is compared with the
in-process answer to its own question. Time to first token is
the time to the first token with visible text on every side (the model's opening line break
shows nothing, and thinkstream does not send it); the in-process time to its very first token
is reported beside it. The overhead is given two ways: the difference of the medians, and the
median of each round's difference (a round's sides run seconds apart, so the drift of prompt
evaluation over minutes cancels). Prints a table and writes bench/results/e2e_vs_direct.json.

    .venv/bin/python -m bench.e2e_vs_direct [--rounds 40] [--max-tokens 64] [--threads 2] [--slots 1]

`--slots`: the worker's slots (`THINKSTREAM_SLOTS`): 1, a worker of one job at a time; more, the
batched worker `up` runs by default (4 on a 2-core machine with a 4k context), one job at a time
through it here.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from httpx_sse import connect_sse

from bench.chat_stream import chunks, has_text
from services.engine.model import load_model
from services.engine.prompt import ChatPrompt
from shared.schemas import ChatMessage
from shared.settings import Settings
from tests.support.stack import Stack

QUESTION = "A shop sells pencils at 3 for 25 cents. How much do 18 pencils cost? Round {n}."
CHAT_QUESTION = "A shop sells pencils at 3 for 25 cents. How much do 18 pencils cost? Case {n}."
"""The chat side's question: as long in tokens, not the one the jobs side just asked (the worker
would find that whole prompt in its KV cache)."""
RESULTS = Path(__file__).parent / "results" / "e2e_vs_direct.json"


def direct_round(llm, prompt: ChatPrompt, question: str, max_tokens: int, seed: int) -> dict[str, float]:
    tokens = prompt.tokens([ChatMessage(role="user", content=question)])
    llm.set_seed(seed)
    start = time.perf_counter()
    stamps: list[float] = []
    visible: float | None = None
    for chunk in llm.create_completion(tokens, max_tokens=max_tokens, temperature=0.0, seed=seed, stream=True):
        stamps.append(time.perf_counter())
        if visible is None and chunk["choices"][0]["text"].strip():
            visible = stamps[-1]
    figures = _figures(start, stamps, len(stamps))
    # What a reader sees first is the first token with text: the model opens with a line break
    # (after the template's "<think>\n"), which thinkstream's stream leaves out, as every
    # client shows nothing for it. Both sides are timed to their first visible text.
    figures["first_any_token_ms"] = figures["ttft_ms"]
    figures["ttft_ms"] = ((visible or stamps[-1]) - start) * 1000
    return figures


# Where the first token's time goes end to end (wall clock; every process is on this machine):
# submit = the client's POST until the gateway accepted the job (its `queued` event); queue = until a
# worker started it (`started`: the doorbell, RQ's fetch, the store's start); first_token = until the
# worker sent the first text (rendering, tokenizing and evaluating the prompt, the first decode);
# delivery = until the client read it (pub/sub, the gateway, SSE).


def e2e_round(url: str, question: str, max_tokens: int, seed: int) -> dict[str, float]:
    body = {"prompt": question, "max_tokens": max_tokens, "max_reasoning_tokens": max_tokens, "seed": seed}
    stamps, generated, marks = [], 0, {}
    with httpx.Client(base_url=url, timeout=120) as client:
        client.get("/healthz")  # a warm connection, as a chat client has
        start, wall = time.perf_counter(), time.time()
        job = client.post("/v1/jobs", json=body).json()
        with connect_sse(client, "GET", job["events_url"]) as source:
            for sse in source.iter_sse():
                event = json.loads(sse.data) if sse.data else {}
                if sse.event in ("queued", "started"):
                    marks[sse.event] = event["ts"]
                elif sse.event in ("reasoning", "answer"):
                    if not stamps:
                        marks["first_text"], marks["received"] = event["ts"], time.time()
                    stamps.append(time.perf_counter())
                elif sse.event == "done":
                    usage = event["result"]["usage"]
                    generated = usage["reasoning_tokens"] + usage["answer_tokens"]
                    break
    figures = _figures(start, stamps, generated)
    figures.update(
        {
            "submit_ms": (marks["queued"] - wall) * 1000,
            "queue_ms": (marks["started"] - marks["queued"]) * 1000,
            "first_token_ms": (marks["first_text"] - marks["started"]) * 1000,
            "delivery_ms": (marks["received"] - marks["first_text"]) * 1000,
        }
    )
    return figures


def chat_round(url: str, question: str, max_tokens: int, seed: int) -> dict[str, float]:
    """The same through the OpenAI streaming chat API: one request, the stream on its own
    response (the jobs API's client sends a second request, for the events, while the prompt is
    evaluated)."""
    body = {
        "messages": [{"role": "user", "content": question}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": max_tokens,
        "max_reasoning_tokens": max_tokens,
        "seed": seed,
        "temperature": 0,
    }
    stamps, generated = [], 0
    with httpx.Client(base_url=url, timeout=120) as client:
        client.get("/healthz")
        start = time.perf_counter()
        with client.stream("POST", "/v1/chat/completions", json=body) as response:
            for chunk in chunks(response):
                if has_text(chunk):
                    stamps.append(time.perf_counter())
                if chunk.get("usage"):
                    generated = chunk["usage"]["completion_tokens"]
    return _figures(start, stamps, generated)


def _figures(start: float, stamps: list[float], tokens: int) -> dict[str, float]:
    decode_s = stamps[-1] - stamps[0]
    return {"ttft_ms": (stamps[0] - start) * 1000, "tokens": tokens, "decode_tps": (tokens - 1) / decode_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # 40 rounds: single rounds range over +-60 ms here, and the overhead is 10-15 ms.
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--slots", type=int, default=1, help="the worker's slots (THINKSTREAM_SLOTS)")
    args = parser.parse_args()

    settings = Settings()
    llm = load_model(
        settings.model_path,
        settings.n_ctx,
        n_threads=args.threads,
        n_batch=settings.n_batch,
        flash_attn=settings.flash_attn,
    )
    prompt = ChatPrompt(llm)
    direct, direct_chat, e2e, chat = [], [], [], []
    with (
        tempfile.TemporaryDirectory() as tmp,
        Stack(
            Path(tmp), env={"THINKSTREAM_N_THREADS": str(args.threads), "THINKSTREAM_SLOTS": str(args.slots)}
        ) as stack,
    ):
        e2e_round(stack.url, "warm up", 16, args.seed)
        direct_round(llm, prompt, "warm up", 16, args.seed)
        # Each side answers every question, in the same order: before each timed request both
        # hold the same context (the previous question and its answer), so both reuse the same
        # prefix of the next prompt and evaluate the same rest.
        for n in range(args.rounds):
            question, chat_question = QUESTION.format(n=n), CHAT_QUESTION.format(n=n)
            direct.append(direct_round(llm, prompt, question, args.max_tokens, args.seed))
            e2e.append(e2e_round(stack.url, question, args.max_tokens, args.seed))
            direct_chat.append(direct_round(llm, prompt, chat_question, args.max_tokens, args.seed))
            chat.append(chat_round(stack.url, chat_question, args.max_tokens, args.seed))

    def med(rows: list[dict[str, float]], key: str) -> float:
        return statistics.median(r[key] for r in rows)

    summary = {
        "model": settings.served_model_name,
        "threads": args.threads,
        "slots": args.slots,
        "rounds": args.rounds,
        "max_tokens": args.max_tokens,
        "direct": {
            "decode_tps": med(direct, "decode_tps"),
            "ttft_ms": med(direct, "ttft_ms"),
            "first_any_token_ms": med(direct, "first_any_token_ms"),
        },
        "e2e": {"decode_tps": med(e2e, "decode_tps"), "ttft_ms": med(e2e, "ttft_ms")},
        "e2e_chat": {"decode_tps": med(chat, "decode_tps"), "ttft_ms": med(chat, "ttft_ms")},
        "rounds_detail": {"direct": direct, "e2e": e2e, "direct_chat": direct_chat, "e2e_chat": chat},
    }
    summary["e2e_breakdown_ms"] = {
        stage: med(e2e, f"{stage}_ms") for stage in ("submit", "queue", "first_token", "delivery")
    }
    summary["decode_ratio"] = summary["e2e"]["decode_tps"] / summary["direct"]["decode_tps"]
    summary["ttft_overhead_ms"] = summary["e2e"]["ttft_ms"] - summary["direct"]["ttft_ms"]
    # Each round's two sides ran seconds apart: their difference leaves out most of the drift
    # in prompt evaluation from one round to the next, which is larger than the overhead.
    paired = [e["ttft_ms"] - d["ttft_ms"] for d, e in zip(direct, e2e, strict=True)]
    summary["ttft_overhead_paired_ms"] = statistics.median(paired)
    summary["direct_chat"] = {"ttft_ms": med(direct_chat, "ttft_ms")}
    summary["chat_ttft_overhead_ms"] = summary["e2e_chat"]["ttft_ms"] - summary["direct_chat"]["ttft_ms"]
    chat_paired = [c["ttft_ms"] - d["ttft_ms"] for d, c in zip(direct_chat, chat, strict=True)]
    summary["chat_ttft_overhead_paired_ms"] = statistics.median(chat_paired)
    print(f"worker of {args.slots} slot(s), {args.rounds} rounds, {args.max_tokens} tokens, {args.threads} threads")
    print(f"{'':24}{'direct':>12}{'end-to-end':>14}{'ratio / diff':>16}   target")
    print(
        f"{'decode tokens/s':24}{summary['direct']['decode_tps']:12.1f}{summary['e2e']['decode_tps']:14.1f}"
        f"{summary['decode_ratio']:16.3f}   >= 0.95"
    )
    print(
        f"{'time to first token ms':24}{summary['direct']['ttft_ms']:12.1f}{summary['e2e']['ttft_ms']:14.1f}"
        f"{summary['ttft_overhead_ms']:+16.1f}   <= +15 ms"
    )
    print(
        f"{'  paired, median of rounds':24}{'':26}{summary['ttft_overhead_paired_ms']:+16.1f}"
        f"   [{min(paired):+.1f} .. {max(paired):+.1f}]"
    )
    print(
        f"{'  chat API (one request)':24}{summary['direct_chat']['ttft_ms']:12.1f}"
        f"{summary['e2e_chat']['ttft_ms']:14.1f}"
        f"{summary['chat_ttft_overhead_ms']:+16.1f}"
    )
    print(
        f"{'  paired, median of rounds':24}{'':26}{summary['chat_ttft_overhead_paired_ms']:+16.1f}"
        f"   [{min(chat_paired):+.1f} .. {max(chat_paired):+.1f}]"
    )
    print(
        "end to end, first token, median ms:  "
        + "  ".join(f"{stage} {ms:.1f}" for stage, ms in summary["e2e_breakdown_ms"].items())
    )
    print(
        f"(direct: prompt and first visible token {summary['direct']['ttft_ms']:.1f}, "
        f"its very first token (a line break) {summary['direct']['first_any_token_ms']:.1f})"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=2))
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
