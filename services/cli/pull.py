"""`thinkstream pull`: fetch a GGUF model from the Hugging Face Hub or ModelScope into the model
directory, resumably, checked against the hub's SHA-256, with a progress bar."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from shared.settings import Settings


def add_pull_parser(sub: Any) -> None:
    cmd = sub.add_parser(
        "pull",
        help="download a model: a short name (thinkstream pull --list) or REPO FILE",
        description="Download a GGUF model into the model directory. Interrupted downloads resume "
        "when the same command runs again. HF_ENDPOINT and MODELSCOPE_DOMAIN choose the hubs' "
        "addresses (mirrors); HF_TOKEN opens gated repositories.",
    )
    cmd.add_argument("model", nargs="?", help="a short name from the catalogue, or a repository (with FILE)")
    cmd.add_argument("file", nargs="?", help="the file in the repository, e.g. Qwen3-1.7B-Q4_K_M.gguf")
    cmd.add_argument("--source", choices=("huggingface", "modelscope"), default="huggingface", help="the hub")
    cmd.add_argument("--revision", default=None, help="branch, tag or commit (main / master)")
    cmd.add_argument("--dir", type=Path, default=None, help="where to put it (THINKSTREAM_MODELS_DIR)")
    cmd.add_argument("--list", action="store_true", help="show the catalogue of short names")


def run_pull(args: argparse.Namespace, settings: Settings) -> int:
    """Entry point of `thinkstream pull`; returns the exit status."""
    import httpx
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

    from services.hub.catalog import CATALOG
    from services.hub.download import fetch
    from services.hub.exceptions import HubError
    from services.hub.hubs import HuggingFace, ModelScope

    console = Console(stderr=True)
    if args.list or args.model is None:
        for listed in CATALOG.values():
            print(f"{listed.name:32} {listed.repo}/{listed.filename}  (~{listed.size_gb:g} GB, {listed.family})")
        return 0 if args.list else 2
    if args.file is None:
        entry = CATALOG.get(args.model)
        if entry is None:
            names = ", ".join(CATALOG)
            print(f"thinkstream pull: {args.model!r} is not a short name ({names}); give REPO FILE", file=sys.stderr)
            return 2
        repo, filename, name = entry.repo, entry.filename, entry.name
    else:
        repo, filename, name = args.model, args.file, Path(args.file).stem
    folder = args.dir or settings.pulled_models_dir
    with httpx.Client(headers={"User-Agent": "thinkstream-pull"}) as http:
        try:
            if args.source == "huggingface":
                remote = HuggingFace(http, settings.hf_endpoint, settings.hf_token).locate(
                    repo, filename, args.revision or "main"
                )
            else:
                remote = ModelScope(http, settings.modelscope_domain).locate(repo, filename, args.revision or "master")
            columns = (BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
            with Progress(*columns, console=console, transient=False) as progress:
                task = progress.add_task(filename, total=remote.size)
                path = fetch(http, remote, folder, lambda done, total: progress.update(task, completed=done))
        except HubError as exc:
            print(f"thinkstream pull: {exc}", file=sys.stderr)
            return 1
    checked = "SHA-256 verified" if remote.sha256 else "the hub publishes no SHA-256 for it; size checked"
    print(f"{path}  ({path.stat().st_size / 1e6:.0f} MB, {checked})")
    print(f"serve it: thinkstream up --model {name}={path}", file=sys.stderr)
    return 0
