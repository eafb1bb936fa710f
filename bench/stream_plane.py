"""The stream plane's ceiling: how many SSE clients one gateway process serves, and how many
token-appending workers one Redis takes, with the delay from a worker's append to a client's
receipt.

No model. Synthetic workers append token events through the real job store (`JobStore.submit`,
`JobStore.start`, `EventWriter.emit`: the same Lua script a worker runs for every token) at
`--rate` tokens/s each, one token per event (a real worker at 30 tokens/s flushes each one). One
real redis-server and one real gateway process (`python -m services.cli gateway`, as `thinkstream
up` starts it) sit between them and the SSE clients: asyncio readers of `/v1/jobs/ID/events`,
spread over several processes so that the client side is not the bottleneck (their CPU is
reported). Each event's `ts` is stamped by the writer just before its append, so `time.time() -
ts` at the client is the whole path: append round trip, publish, the gateway's fan-out, SSE.

Two curves, one row per point, each point `--duration` seconds (the first 2 s not measured):

- `clients`: SSE clients per gateway (100 ... 5000) over a fixed `--fixed-workers` jobs (each
  client follows one of them: 30 events/s per client);
- `workers`: simulated workers per Redis (50 ... 1000), with `--sample-clients` clients sampling
  the first jobs.

For each point: events appended/s (and what was asked), events delivered/s, p50/p99 delay,
CPU of the gateway, redis-server, the writers and the clients (percent of one core), and the
p99 of a `/healthz` round trip during the point (the gateway's event-loop lag). The gateway's
per-client limits are lifted as in tests/integration/test_load.py. `--events-redis-url` puts the
event plane on another Redis (THINKSTREAM_EVENTS_REDIS_URL), e.g. a cluster
(`--events-cluster-shards N` starts a local one).

Run it under `nice -n 10`; it prints a table and writes bench/results/stream_plane.json.

    nice -n 10 .venv/bin/python -m bench.stream_plane [--curve clients|workers|both]
        [--clients 100,500,1000,2000,5000] [--workers 50,100,250,500,1000] [--duration 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from multiprocessing.queues import Queue as MpQueue
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

import httpx

from services.runtime.redis_client import connect
from services.runtime.redis_server import RedisServer, free_port
from services.store.jobs import JobStore
from services.store.queues import Origin
from services.store.records import NewJob
from shared.eventlog import stamp
from shared.schemas import CanceledEvent, ChatMessage, GenerationParams, JobSpec, JobStatus, ReasoningEvent
from shared.settings import Settings

RESULTS = Path(__file__).parent / "results" / "stream_plane.json"
WARMUP_S = 2.0
TAIL_S = 15.0
"""How long clients wait for the last events after the writers stop."""
JOBS_PER_WRITER = 125
CLIENTS_PER_PROCESS = 1000
CONNECT_BATCH = 100
POOL = "bench"
BUCKET_MS = 0.1
GATEWAY_ENV = {
    # One bench client stands for thousands of users: the per-client caps are lifted.
    "THINKSTREAM_CLIENT_MAX_STREAMS": "1000000",
    "THINKSTREAM_CLIENT_REQUESTS_PER_MINUTE": "100000000",
    "THINKSTREAM_MAX_CONNECTIONS": "30000",
    "THINKSTREAM_LOG_LEVEL": "WARNING",
}


def bench_settings(redis_url: str, events_url: str | None) -> Settings:
    extra: dict[str, Any] = {"events_redis_url": events_url} if events_url else {}
    return Settings(
        redis_url=redis_url,
        max_queued_jobs=1_000_000,
        key_max_queued_jobs=1_000_000,
        job_ttl_s=600,
        **extra,
    )


# ---------------------------------------------------------------------------------------------
# Synthetic workers


def writer_main(
    redis_url: str,
    events_url: str | None,
    count: int,
    rate: float,
    go_at: Synchronized[float],
    duration_s: float,
    out: MpQueue[Any],
) -> None:
    """Start `count` jobs, then append one token event per job every 1/`rate` s until the end of
    the point; end each job with `canceled` (a terminal event, so its clients stop)."""
    settings = bench_settings(redis_url, events_url)
    # Only with an event plane of its own, so that this script also runs on a tree from before it
    # (the baseline the README's figures compare with).
    store = JobStore(connect(redis_url), settings, *([connect(events_url)] if events_url else []))
    worker_id = f"bench-{uuid.uuid4().hex[:8]}"
    writers = []
    for _ in range(count):
        spec = JobSpec(
            job_id=uuid.uuid4().hex,
            messages=[ChatMessage(role="user", content="bench")],
            params=GenerationParams(),
            prompt_tokens=1,
            max_tokens=1_000_000,
            max_reasoning_tokens=1_000_000,
            created_at=time.time(),
        )
        store.submit([NewJob(spec)], owner=None, origin=Origin.INTERACTIVE, pool=POOL)
        start = store.start(spec.job_id, 1, worker_id)
        assert start.outcome == "started", start.outcome
        writers.append((spec.job_id, store.writer(spec.job_id, 1, after_seq=start.seq)))
    out.put(("jobs", [job_id for job_id, _ in writers]))
    while go_at.value == 0:
        time.sleep(0.01)
    start_at = go_at.value
    time.sleep(max(0.0, start_at - time.time()))
    interval = 1.0 / rate
    # Staggered: job i appends at start + i/count * interval + k * interval.
    due = [start_at + interval * i / count for i in range(count)]
    end_at = start_at + duration_s
    appended = late = 0
    append_ms: list[float] = []
    token = 0
    while True:
        now = time.time()
        if now >= end_at:
            break
        soonest = min(due)
        if soonest > now:
            time.sleep(soonest - now)
            continue
        for index, (_, events) in enumerate(writers):
            if due[index] > now:
                continue
            token += 1
            before = time.time()
            events.emit(stamp(ReasoningEvent, text=" tok", tokens=1, token_ids=[token % 30000]))
            after = time.time()
            if start_at + WARMUP_S <= before:
                appended += 1
                if len(append_ms) < 200_000:
                    append_ms.append((after - before) * 1000)
            due[index] += interval
            if due[index] < after - interval:  # more than one behind: skip, and count it
                late += 1
                due[index] = after
    for job_id, _ in writers:
        store.end(job_id, stamp(CanceledEvent), JobStatus.CANCELED, run=1)
    append_ms.sort()
    out.put(
        (
            "writer",
            {
                "appended": appended,
                "late": late,
                "append_p50_ms": append_ms[len(append_ms) // 2] if append_ms else None,
                "append_p99_ms": append_ms[int(len(append_ms) * 0.99)] if append_ms else None,
            },
        )
    )


# ---------------------------------------------------------------------------------------------
# SSE clients


class ClientStats:
    def __init__(self) -> None:
        self.delays: Counter[int] = Counter()
        self.events = 0
        self.out_of_order = 0
        self.connected = 0
        self.refused: Counter[str] = Counter()
        self.ended = 0


async def follow(host: str, port: int, job_id: str, stats: ClientStats, window: list[float]) -> None:
    try:
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
    except OSError as exc:
        stats.refused[type(exc).__name__] += 1
        return
    try:
        # HTTP/1.0: the response is not chunked, and ends when the connection closes.
        writer.write(f"GET /v1/jobs/{job_id}/events HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        status = await reader.readline()
        if b" 200 " not in status:
            stats.refused[status.decode(errors="replace").strip()[:40] or "closed"] += 1
            return
        while (await reader.readline()).strip():
            pass
        stats.connected += 1
        last = 0
        while True:
            line = await reader.readline()
            if not line:
                return
            if not line.startswith(b"data: "):
                continue
            now = time.time()
            # The data is `{"seq":N,"ts":T,"type":...}` exactly as the append script built it.
            comma = line.index(b",", 13)
            seq = int(line[13:comma])
            ts_end = line.index(b",", comma + 6)
            ts = float(line[comma + 6 : ts_end])
            if seq != last + 1:
                stats.out_of_order += 1
            last = seq
            if window[0] <= ts < window[1]:
                stats.events += 1
                stats.delays[int((now - ts) * 1000 / BUCKET_MS)] += 1
            if b'"type":"canceled"' in line:
                stats.ended += 1
                return
    except (OSError, ValueError) as exc:
        stats.refused[type(exc).__name__] += 1
    finally:
        writer.close()


def clients_main(
    host: str, port: int, job_ids: list[str], go_at: Synchronized[float], duration_s: float, out: MpQueue[Any]
) -> None:
    asyncio.run(_clients(host, port, job_ids, go_at, duration_s, out))


async def _clients(
    host: str, port: int, job_ids: list[str], go_at: Synchronized[float], duration_s: float, out: MpQueue[Any]
) -> None:
    stats = ClientStats()
    window = _Window()
    tasks = []
    for first in range(0, len(job_ids), CONNECT_BATCH):
        tasks += [
            asyncio.create_task(follow(host, port, job_id, stats, window.bounds))
            for job_id in job_ids[first : first + CONNECT_BATCH]
        ]
        await asyncio.sleep(0.05)
    deadline = time.time() + 60
    while stats.connected + sum(stats.refused.values()) < len(job_ids) and time.time() < deadline:
        await asyncio.sleep(0.05)
    out.put(("ready", stats.connected))
    while go_at.value == 0:
        await asyncio.sleep(0.01)
    window.set(go_at.value + WARMUP_S, go_at.value + duration_s)
    cpu_before = sum(os.times()[:2])
    _, pending = await asyncio.wait(tasks, timeout=max(0.0, go_at.value + duration_s + TAIL_S - time.time()))
    cpu_s = sum(os.times()[:2]) - cpu_before
    for task in pending:
        task.cancel()
    out.put(
        (
            "clients",
            {
                "delays": dict(stats.delays),
                "events": stats.events,
                "out_of_order": stats.out_of_order,
                "connected": stats.connected,
                "refused": dict(stats.refused),
                "ended": stats.ended,
                "unfinished": len(pending),
                "cpu_s": cpu_s,
            },
        )
    )


class _Window:
    """The measured window, known only once the point starts: a list the readers share."""

    def __init__(self) -> None:
        self.bounds: list[float] = [float("inf"), float("inf")]

    def set(self, start: float, end: float) -> None:
        self.bounds[0], self.bounds[1] = start, end


# ---------------------------------------------------------------------------------------------
# One point


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(delays: Counter[int], q: float) -> float | None:
    total = sum(delays.values())
    if not total:
        return None
    rank = q * (total - 1)
    seen = 0
    for bucket in sorted(delays):
        seen += delays[bucket]
        if seen > rank:
            return round(bucket * BUCKET_MS, 1)
    return None


class Plane:
    """The redis-server(s) and the gateway process the points run against."""

    def __init__(self, data_dir: Path, events_url: str | None, events_pids: list[int]) -> None:
        self.redis = RedisServer(data_dir / "redis").start()
        self.events_url = events_url
        self.events_pids = events_pids
        self.port = free_port()
        env = {**os.environ, **GATEWAY_ENV, "THINKSTREAM_REDIS_URL": self.redis.url}
        if events_url:
            env["THINKSTREAM_EVENTS_REDIS_URL"] = events_url
        self._log = (data_dir / "gateway.log").open("ab")
        self.gateway = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "gateway", "--host", "127.0.0.1", "--port", str(self.port)],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.gateway.poll() is not None:
                raise RuntimeError(f"the gateway exited; see {data_dir / 'gateway.log'}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("the gateway did not start")

    def stop(self) -> None:
        self.gateway.terminate()
        try:
            self.gateway.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.gateway.kill()
            self.gateway.wait()
        self._log.close()
        self.redis.stop()


def run_point(plane: Plane, workers: int, clients: int, rate: float, duration_s: float) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    out: MpQueue[Any] = ctx.Queue()
    go_at: Synchronized[float] = ctx.Value("d", 0.0)
    writers = []
    for first in range(0, workers, JOBS_PER_WRITER):
        count = min(JOBS_PER_WRITER, workers - first)
        process = ctx.Process(
            target=writer_main, args=(plane.redis.url, plane.events_url, count, rate, go_at, duration_s, out)
        )
        process.start()
        writers.append(process)
    job_ids: list[str] = []
    for _ in writers:
        kind, ids = out.get(timeout=300)
        assert kind == "jobs"
        job_ids += ids
    follows = [job_ids[i % len(job_ids)] for i in range(clients)]
    readers = []
    for first in range(0, clients, CLIENTS_PER_PROCESS):
        process = ctx.Process(
            target=clients_main,
            args=("127.0.0.1", plane.port, follows[first : first + CLIENTS_PER_PROCESS], go_at, duration_s, out),
        )
        process.start()
        readers.append(process)
    connected = 0
    for _ in readers:
        kind, count = out.get(timeout=120)
        assert kind == "ready"
        connected += count
    pids = {
        "gateway": [plane.gateway.pid],
        "redis": [plane.redis._process.pid] if plane.redis._process else [],
        "events_redis": plane.events_pids,
        "writers": [p.pid for p in writers if p.pid],
        "clients": [p.pid for p in readers if p.pid],
    }
    go_at.value = time.time() + 0.5
    time.sleep(go_at.value + WARMUP_S - time.time())
    before = {name: sum(cpu_s(pid) for pid in group) for name, group in pids.items()}
    nodes_before = [cpu_s(pid) for pid in plane.events_pids]
    measure_start = time.time()
    probes: list[float] = []
    with httpx.Client(base_url=f"http://127.0.0.1:{plane.port}", timeout=30) as http:
        while time.time() < go_at.value + duration_s:
            sent = time.perf_counter()
            http.get("/healthz")
            probes.append((time.perf_counter() - sent) * 1000)
            time.sleep(0.2)
    measured_s = time.time() - measure_start
    after = {name: sum(cpu_s(pid) for pid in group) for name, group in pids.items()}
    nodes = [
        round(100 * (cpu_s(pid) - start) / measured_s)
        for pid, start in zip(plane.events_pids, nodes_before, strict=True)
    ]
    writer_rows: list[dict[str, Any]] = []
    client_rows: list[dict[str, Any]] = []
    while len(writer_rows) < len(writers) or len(client_rows) < len(readers):
        kind, row = out.get(timeout=duration_s + TAIL_S + 120)
        (writer_rows if kind == "writer" else client_rows).append(row)
    for process in [*writers, *readers]:
        process.join(timeout=30)
    delays: Counter[int] = Counter()
    for row in client_rows:
        delays.update({int(k): v for k, v in row["delays"].items()})
    window_s = duration_s - WARMUP_S
    probes.sort()
    refused: Counter[str] = Counter()
    for row in client_rows:
        refused.update(row["refused"])
    delivered = sum(row["events"] for row in client_rows) * measured_s / window_s
    appended = sum(row["appended"] for row in writer_rows)
    redis_s = sum(after[name] - before[name] for name in ("redis", "events_redis"))
    appends_ms = [row["append_p99_ms"] for row in writer_rows if row["append_p99_ms"] is not None]
    return {
        "workers": workers,
        "clients": clients,
        "connected": connected,
        "refused": dict(refused),
        "asked_appends_per_s": round(workers * rate),
        "appends_per_s": round(sum(row["appended"] for row in writer_rows) / window_s),
        "late_appends": sum(row["late"] for row in writer_rows),
        "append_p99_ms": max(appends_ms) if appends_ms else None,
        "asked_delivered_per_s": round(clients * rate),
        "delivered_per_s": round(sum(row["events"] for row in client_rows) / window_s),
        "delay_p50_ms": percentile(delays, 0.50),
        "delay_p99_ms": percentile(delays, 0.99),
        "out_of_order": sum(row["out_of_order"] for row in client_rows),
        "unfinished_clients": sum(row["unfinished"] for row in client_rows),
        "healthz_p50_ms": round(probes[len(probes) // 2], 1) if probes else None,
        "healthz_p99_ms": round(probes[int(len(probes) * 0.99)], 1) if probes else None,
        "cpu_pct": {name: round(100 * (after[name] - before[name]) / measured_s) for name in pids},
        "gateway_us_per_event": round(1e6 * (after["gateway"] - before["gateway"]) / max(delivered, 1)),
        "redis_us_per_append": round(1e6 * redis_s / max(appended * measured_s / window_s, 1)),
        "clients_cpu_s": round(sum(row["cpu_s"] for row in client_rows), 1),
        "events_redis_node_cpu_pct": nodes,
    }


# ---------------------------------------------------------------------------------------------


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        f"{'curve':>7} {'workers':>7} {'clients':>7} {'conn':>5} {'app/s':>12} {'deliv/s':>14} "
        f"{'p50 ms':>7} {'p99 ms':>8} {'hz p99':>7} {'gw%':>4} {'redis%':>6} {'ev.r%':>5} "
        f"{'wr%':>4} {'cl%':>4} {'gw us/ev':>8} {'rd us/ap':>8} {'order':>5}"
    )
    lines = [head]
    for row in rows:
        cpu = row["cpu_pct"]
        lines.append(
            f"{row['curve']:>7} {row['workers']:>7} {row['clients']:>7} {row['connected']:>5} "
            f"{row['appends_per_s']:>5}/{row['asked_appends_per_s']:<6} "
            f"{row['delivered_per_s']:>6}/{row['asked_delivered_per_s']:<7} "
            f"{row['delay_p50_ms'] if row['delay_p50_ms'] is not None else '-':>7} "
            f"{row['delay_p99_ms'] if row['delay_p99_ms'] is not None else '-':>8} "
            f"{row['healthz_p99_ms']:>7} {cpu['gateway']:>4} {cpu['redis']:>6} {cpu['events_redis']:>5} "
            f"{cpu['writers']:>4} {cpu['clients']:>4} {row['gateway_us_per_event']:>8} "
            f"{row['redis_us_per_append']:>8} {row['out_of_order']:>5}"
        )
    return "\n".join(lines)


def ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--curve", choices=("clients", "workers", "both"), default="both")
    parser.add_argument("--clients", type=ints, default=[100, 500, 1000, 2000, 5000])
    parser.add_argument("--workers", type=ints, default=[50, 100, 250, 500, 1000])
    parser.add_argument("--fixed-workers", type=int, default=50, help="jobs the clients curve's clients follow")
    parser.add_argument("--sample-clients", type=int, default=20, help="clients sampling the workers curve")
    parser.add_argument("--rate", type=float, default=30.0, help="tokens/s of each simulated worker")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per point")
    parser.add_argument("--events-redis-url", default=None, help="the event plane's Redis (default: the one Redis)")
    parser.add_argument("--events-cluster-shards", type=int, default=0, help="start a local Redis Cluster of N shards")
    parser.add_argument("--label", default="", help="a name for this run in the JSON")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="stream-plane-") as tmp:
        cluster = None
        events_url = args.events_redis_url
        events_pids: list[int] = []
        if args.events_cluster_shards:
            from tests.support.redis_cluster import RedisCluster

            cluster = RedisCluster(Path(tmp) / "cluster", shards=args.events_cluster_shards).start()
            events_url, events_pids = cluster.url, cluster.pids
        plane = Plane(Path(tmp), events_url, events_pids)
        try:
            points = []
            if args.curve in ("clients", "both"):
                points += [("clients", args.fixed_workers, n) for n in args.clients]
            if args.curve in ("workers", "both"):
                points += [("workers", n, args.sample_clients) for n in args.workers]
            for curve, workers, clients in points:
                print(f"{curve}: {workers} workers, {clients} clients ...", flush=True)
                row = {"curve": curve, **run_point(plane, workers, clients, args.rate, args.duration)}
                rows.append(row)
                print(table([row]).splitlines()[1], flush=True)
                if plane.gateway.poll() is not None:
                    print("the gateway died; stopping", flush=True)
                    break
        finally:
            plane.stop()
            if cluster is not None:
                cluster.stop()
    print()
    print(table(rows))
    print(
        "\napp/s: appended/asked; deliv/s: delivered/asked (events/s); p50/p99: append-to-receipt delay;"
        " hz p99: /healthz round trip (event-loop lag); CPU in % of one core (gw: gateway, ev.r: event"
        " plane's redis, wr: writers, cl: clients); gw us/ev: gateway CPU per delivered event;"
        " rd us/ap: Redis CPU (all nodes) per append; order: events out of order (must be 0)"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    record = {"label": args.label, "args": {k: str(v) for k, v in vars(args).items()}, "cpu_count": os.cpu_count()}
    args.out.write_text(json.dumps({**record, "rows": rows}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
