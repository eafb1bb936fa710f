"""Running the deployment's start-up shell scripts on this machine, with stand-ins for the Redis
binaries they call: what a script decides shows in how it starts redis-server."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path


def run_script(tmp_path: Path, script: str, args: list[str], env: dict[str, str], primary: str = "") -> str:
    """Run a start-up script with stand-ins for redis-cli (answers `primary`, or fails like an
    unreachable Sentinel), the image's docker-entrypoint.sh and redis-server (prints how it was
    started)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fakes = {
        "redis-cli": f'[ -n "{primary}" ] || exit 1\necho "{primary}"\necho 26379\n',
        # Configuration read from stdin ("-") is printed first, prefixed "config: ".
        "redis-server": 'if [ "$1" = "-" ]; then sed "s/^/config: /"; fi\necho "redis-server $*"\n',
        "docker-entrypoint.sh": 'exec "$@"\n',
        "timeout": 'shift\nexec "$@"\n',
    }
    for name, body in fakes.items():
        (bin_dir / name).write_text("#!/bin/sh\n" + body)
        (bin_dir / name).chmod(stat.S_IRWXU)
    done = subprocess.run(
        ["sh", "-c", script, "script", *args],
        env={"PATH": f"{bin_dir}:{os.environ['PATH']}", **env},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()
