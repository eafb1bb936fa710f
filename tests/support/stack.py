"""A real thinkstream stack for integration tests: a private redis-server and the gateway and
workers as the same child processes `thinkstream up` starts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Protocol

import httpx
from redis import Redis

from services.runtime.redis_server import RedisServer, free_port

READY_TIMEOUT_S = 60.0


class RedisService(Protocol):
    """A Redis the stack's processes use: a `RedisServer`, or a Sentinel-managed `HaRedis`."""

    @property
    def url(self) -> str: ...

    def start(self) -> object: ...

    def stop(self) -> None: ...

    def client(self, **options: object) -> Redis: ...


class Stack:
    def __init__(
        self,
        data_dir: Path,
        *,
        workers: int = 1,
        postproc: bool = True,
        env: dict[str, str] | None = None,
        redis: RedisService | None = None,
        worker_models: list[str] | None = None,
    ) -> None:
        """`worker_models`: one inference worker per entry, each loading that model (`worker
        --model NAME`), instead of `workers` workers of the only model."""
        self.redis: RedisService = redis or RedisServer(data_dir / "redis")
        self._own_redis = redis is None
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._workers = len(worker_models) if worker_models is not None else workers
        self._worker_models = worker_models
        self._postproc = postproc
        self._extra_env = env or {}
        self._logs = data_dir / "logs"
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def env(self) -> dict[str, str]:
        threads = max(1, (os.cpu_count() or 1) // self._workers)
        return {
            **os.environ,
            "THINKSTREAM_REDIS_URL": self.redis.url,
            "THINKSTREAM_N_THREADS": str(threads),
            "THINKSTREAM_HEARTBEAT_INTERVAL_S": "0.5",
            "THINKSTREAM_WORKER_TTL_S": "3",
            **self._extra_env,
        }

    def spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        self._logs.mkdir(parents=True, exist_ok=True)
        log = (self._logs / f"{name}.log").open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", *args], env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        self.processes[name] = process
        return process

    def start(self) -> Stack:
        try:
            return self._start()
        except BaseException:
            self.stop()  # a stack that never got ready leaves no process behind
            raise

    def _start(self) -> Stack:
        if self._own_redis:
            self.redis.start()
        if self._postproc:
            self.spawn("postproc", "postproc")
        if self._worker_models is not None:
            for index, model in enumerate(self._worker_models):
                self.spawn(f"worker-{index}", "worker", "--model", model)
        else:
            for index in range(self._workers):
                self.spawn(f"worker-{index}", "worker")
        self.spawn("gateway", "gateway", "--host", "127.0.0.1", "--port", str(self.port))
        self.wait_ready()
        return self

    def wait_ready(self, timeout_s: float | None = None) -> None:
        timeout_s = READY_TIMEOUT_S if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited with {process.returncode}: {self.log(name)[-2000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        logs = "".join(f"\n--- {name} log:\n{self.log(name)[-1500:]}" for name in self.processes)
        raise RuntimeError(f"stack not ready after {timeout_s} s{logs}")

    def log(self, name: str) -> str:
        path = self._logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop_process(self, name: str, sig: signal.Signals = signal.SIGTERM, timeout_s: float = 15.0) -> int:
        process = self.processes.pop(name)
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode

    def stop(self) -> None:
        for name in list(self.processes):
            self.stop_process(name)
        if self._own_redis:
            self.redis.stop()

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
