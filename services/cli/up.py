"""`thinkstream up`: the whole stack on one machine, as child processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import ExitStack

import httpx

from services.runtime.redis_server import URL_FILE, RedisServer
from shared.settings import Settings

READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 15.0


class _Stop(Exception):
    pass


def _raise_stop(signum: int, frame: object) -> None:
    raise _Stop(signal.Signals(signum).name)


def worker_counts(settings: Settings, workers: int | None) -> dict[str, int]:
    """Inference workers to start per model: `--workers` for a single model, else each model's
    `workers`. Raises `ValueError` saying what to fix."""
    catalog = settings.catalog
    if workers is not None:
        if len(catalog) > 1:
            raise ValueError("--workers is for a single model: give each model's count as --model NAME=PATH,workers=N")
        counts = {catalog[0].name: workers}
    else:
        counts = {model.name: model.workers for model in catalog}
    if sum(counts.values()) < 1:
        raise ValueError("no inference worker to start: --workers (or a model's workers=N) must be at least 1")
    for model in catalog:
        if counts[model.name] and not model.path.is_file():
            raise ValueError(f"model {model.name!r}: {model.path} is not a file (thinkstream pull fetches models)")
    return counts


AUTO_SLOTS = 0
"""THINKSTREAM_SLOTS=0: the worker picks its slots from its cores and context size."""


def up_slots(settings: Settings, workers: int) -> int:
    """Jobs each of a model's `workers` runs at once. THINKSTREAM_SLOTS if set; else a model
    served by one worker batches (chosen from the machine: `bench.concurrency` measured the
    fourth of four concurrent streams waiting 0.7 s for its first token instead of 8, for the
    same aggregate tokens/s and about 90 MB per extra job), and several workers of a model run
    one job each, as asked."""
    if "slots" in settings.model_fields_set:
        return settings.slots
    return AUTO_SLOTS if workers == 1 else 1


def up(settings: Settings, *, workers: int | None = None) -> int:
    try:
        counts = worker_counts(settings, workers)
    except ValueError as exc:
        print(f"thinkstream up: {exc}", file=sys.stderr)
        return 2
    workers = sum(counts.values())
    # SIGHUP too: a closed terminal stops the services and then Redis, which has a process
    # group of its own and would be left running.
    for stop_signal in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(stop_signal, _raise_stop)
    children: list[subprocess.Popen[bytes]] = []
    with ExitStack() as stack:
        try:
            redis_url = settings.redis_url
            if redis_url is None:
                # Redis's own cap sits above the budget the gateway keeps, so running jobs can finish.
                maxmemory_mb = settings.redis_memory_budget_mb * 5 // 4
                server = stack.enter_context(RedisServer(settings.data_dir / "redis", maxmemory_mb=maxmemory_mb))
                redis_url = server.url
                print(
                    f"redis-server started on 127.0.0.1:{server.port}, password-protected; its URL (for more "
                    f"workers: --redis-url) is in {server.data_dir / URL_FILE}, readable only by you",
                    flush=True,
                )
            # Every child sees the same list of models (the command line's, when it gave them).
            catalog = json.dumps([model.model_dump(mode="json") for model in settings.catalog])
            env = dict(os.environ, THINKSTREAM_REDIS_URL=redis_url, THINKSTREAM_MODELS=catalog)
            env.pop("THINKSTREAM_MODELS_FILE", None)
            threads = settings.n_threads or max(1, (os.cpu_count() or 1) // workers)
            command = [sys.executable, "-m", "services.cli"]
            children.append(subprocess.Popen([*command, "postproc"], env=env))
            for model, count in counts.items():
                worker_env = dict(
                    env,
                    THINKSTREAM_N_THREADS=str(threads),
                    THINKSTREAM_WORKER_MODEL=model,
                    THINKSTREAM_SLOTS=str(up_slots(settings, count)),
                )
                children.extend(subprocess.Popen([*command, "worker"], env=worker_env) for _ in range(count))
            gateway = [*command, "gateway", "--host", settings.host, "--port", str(settings.port)]
            if settings.allow_no_auth:
                gateway.append("--insecure-no-auth")
            children.append(subprocess.Popen(gateway, env=env))
            url = f"http://{settings.host}:{settings.port}"
            _wait_ready(url, children, workers)
            served = ", ".join(
                f"{model} ×{count}" + (", batching" if up_slots(settings, count) != 1 else "")
                for model, count in counts.items()
            )
            print(f"thinkstream is ready at {url}  (inference workers: {served}; {threads} thread(s) each)", flush=True)
            while all(child.poll() is None for child in children):
                time.sleep(0.5)
            print("thinkstream: a service exited; shutting down", file=sys.stderr)
            return 1
        except _Stop as stop:
            print(f"thinkstream: {stop}, shutting down", flush=True)
            return 0
        except RuntimeError as exc:
            print(f"thinkstream: {exc}", file=sys.stderr)
            return 1
        finally:
            for stop_signal in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                signal.signal(stop_signal, signal.SIG_IGN)
            _stop_all(children)


def _wait_ready(url: str, children: list[subprocess.Popen[bytes]], workers: int) -> None:
    """Until `/readyz` answers 200 with every inference worker started here alive."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if any(child.poll() is not None for child in children):
            raise RuntimeError("a service exited during start-up; see the log above")
        try:
            response = httpx.get(f"{url}/readyz", timeout=1.0)
            if response.status_code == 200 and response.json()["workers"] >= workers:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url}/readyz did not answer 200 within {READY_TIMEOUT_S:.0f} s")


def _stop_all(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for child in children:
        try:
            child.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            command = " ".join(str(arg) for arg in child.args[3:4])  # type: ignore[index]
            print(
                f"thinkstream: {command} (pid {child.pid}) did not stop within {STOP_TIMEOUT_S:.0f} s; killed",
                flush=True,
            )
            child.kill()
            child.wait()
