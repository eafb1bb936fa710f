"""Running a deployment file's redis-server command line on this machine, with the real binary."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import redis
from redis import Redis
from redis.backoff import ConstantBackoff
from redis.retry import Retry

from services.runtime.redis_server import free_port, redis_server_binary


def assert_refuses_strangers(tmp_path: Path, argv: list[str], env: dict[str, str], password: str) -> None:
    """Start `argv` (a deployment's redis command, `redis-server` and the image's entrypoint
    stood in by the real binary and a pass-through) and check that it answers `password` only,
    and that no command line shows it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "redis-server").symlink_to(redis_server_binary())
    stand_in = bin_dir / "docker-entrypoint.sh"
    stand_in.write_text('#!/bin/sh\nexec "$@"\n')
    stand_in.chmod(0o755)
    port = free_port()
    argv = [*argv, "--port", str(port), "--dir", str(tmp_path), "--save", ""]
    process = subprocess.Popen(argv, env={"PATH": f"{bin_dir}:{os.environ['PATH']}", **env}, stdout=subprocess.DEVNULL)
    try:
        with Redis(port=port, password=password, retry=Retry(ConstantBackoff(0.1), 50)) as client:
            assert client.ping()
        with pytest.raises(redis.exceptions.AuthenticationError), Redis(port=port) as stranger:
            stranger.ping()
        assert password not in Path(f"/proc/{process.pid}/cmdline").read_text()
    finally:
        process.terminate()
        process.wait(10)
