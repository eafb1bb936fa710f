"""`thinkstream batch IN.jsonl -o OUT.jsonl`: run a file of questions as one low-priority batch.

A live progress bar shows answered, failed, rate and time left; each result is appended to the
output file as it finishes. Rerunning with the same output file asks only what is not in it yet.
The id of the running batch is kept beside the output (`OUT.jsonl.batch`) until it ends, so a
rerun after a crash picks that batch up instead of asking its questions twice; Ctrl-C cancels it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from services.cli.gateway_client import add_gateway_arguments

POLL_S = 1.0


def add_batch_parser(sub: Any) -> None:
    cmd = sub.add_parser("batch", help="answer a JSONL file of questions as a batch (resumable, with progress)")
    cmd.add_argument("input", type=Path, help='JSONL: {"custom_id", "question"} or OpenAI batch request lines')
    cmd.add_argument("-o", "--output", type=Path, required=True, help="results JSONL; rerun with it to resume")
    add_gateway_arguments(cmd)
    cmd.add_argument("--poll-s", type=float, default=POLL_S, help=f"seconds between progress checks ({POLL_S})")


def run_batch(args: argparse.Namespace) -> int:
    """Entry point of `thinkstream batch`; returns the exit status."""
    from services.cli.batch_run import run  # httpx and rich only when used

    return run(args)
