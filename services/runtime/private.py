"""Folders and files only their owner can read: Redis data, its password, uploaded files."""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
PRIVATE_UMASK = 0o077


def private_dir(path: Path) -> Path:
    """`path`, created if needed, readable by its owner only (tightened if it was wider)."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    if path.stat().st_mode & 0o777 != PRIVATE_DIR_MODE:
        path.chmod(PRIVATE_DIR_MODE)
    return path


def write_private_bytes(path: Path, content: bytes) -> None:
    """Write a file that only its owner can read, never readable by others even for a moment."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    with os.fdopen(fd, "wb") as out:
        os.fchmod(out.fileno(), PRIVATE_FILE_MODE)
        out.write(content)


def write_private(path: Path, text: str) -> None:
    write_private_bytes(path, text.encode())
