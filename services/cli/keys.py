"""`thinkstream keys new NAME [--file F]`: make an API key, show it once, store only its hash."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from pydantic import ValidationError

from shared.apikeys import KEY_NAME, PRIORITY_ORDER, ApiKeys, key_entry, new_key
from shared.exceptions import KeyConfigError
from shared.settings import Settings


def add_keys_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = sub.add_parser("keys", help="make API keys for the gateway")
    actions = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    new = actions.add_parser("new", help="make a key: it is printed once, only its hash is stored")
    new.add_argument("name", help="who the key is for: 1-64 letters, digits, '.', '_' or '-'")
    new.add_argument(
        "--file",
        type=Path,
        default=None,
        help="append NAME:SHA256 to this file (default: THINKSTREAM_API_KEYS_FILE; "
        "with neither, the line is printed for you to store)",
    )
    new.add_argument(
        "--priority", choices=PRIORITY_ORDER, default=None, help="the priority of the key's jobs unless they ask"
    )
    new.add_argument(
        "--max-priority", choices=PRIORITY_ORDER, default=None, help="the highest priority the key may ask for"
    )


def run_keys(args: argparse.Namespace) -> int:
    """Print a new key on standard output (nothing else goes there, so it can be piped) and
    append its `NAME:SHA256HEX` line to the keys file. The gateway reads the file at start-up."""
    name: str = args.name
    if not KEY_NAME.fullmatch(name):
        print(f"thinkstream keys: {name!r} is not a key name: use 1-64 letters, digits, . _ -", file=sys.stderr)
        return 2
    path: Path | None = args.file
    if path is None:
        try:
            path = Settings().api_keys_file
        except ValidationError as exc:
            print(f"thinkstream keys: invalid setting: {exc}", file=sys.stderr)
            return 2
    if (
        args.priority
        and args.max_priority
        and PRIORITY_ORDER.index(args.priority) < PRIORITY_ORDER.index(args.max_priority)
    ):
        print("thinkstream keys: --priority is above --max-priority", file=sys.stderr)
        return 2
    key = new_key()
    entry = key_entry(name, key, priority=args.priority, max_priority=args.max_priority)
    if path is None:
        print(key)
        print(
            f"thinkstream keys: no keys file given; store this line in THINKSTREAM_API_KEY_HASHES or a keys "
            f"file (the key above is not shown again):\n{entry}",
            file=sys.stderr,
        )
        return 0
    try:
        existing = path.read_text(encoding="utf-8") if path.exists() else ""
        if name in ApiKeys.parse(existing, str(path)).digests:
            print(f"thinkstream keys: {path} already has a key named {name!r}: pick another name", file=sys.stderr)
            return 2
        # Owner-only from the start: the hashes are not secret, but nobody else should add keys.
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(descriptor, "a", encoding="utf-8") as out:
            out.write(("" if not existing or existing.endswith("\n") else "\n") + entry + "\n")
    except KeyConfigError as exc:
        print(f"thinkstream keys: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"thinkstream keys: cannot write {path}: {exc.strerror}", file=sys.stderr)
        return 2
    print(key)
    print(
        f"thinkstream keys: stored the hash of {name!r} in {path}; the key above is not shown again. "
        "Restart the gateway to load it.",
        file=sys.stderr,
    )
    return 0
