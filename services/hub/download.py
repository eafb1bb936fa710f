"""A resumable download into the model directory, checked against the hub's SHA-256.

The bytes go to `<file>.part`, beside a small `<file>.part.json` that says which remote file
they are (URL, size, SHA-256). A run that finds both, for the same remote file, asks for the rest
with an HTTP Range; a hub that ignores it sends the whole file again. The finished file is
hashed and renamed into place only if its SHA-256 is the published one; a mismatch deletes it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import httpx

from services.hub.exceptions import ChecksumMismatch, DownloadInterrupted, HubError
from services.hub.hubs import TIMEOUT_S, RemoteFile

CHUNK_BYTES = 1 << 20
Progress = Callable[[int, int | None], None]
"""Called with (bytes on disk so far, total size) as the download goes."""


def fetch(http: httpx.Client, remote: RemoteFile, folder: Path, progress: Progress | None = None) -> Path:
    """Download `remote` into `folder` (resuming a partial download of the same file); returns
    the file's path. Raises `DownloadInterrupted` (the part is kept), `ChecksumMismatch` (the
    part is deleted) or `HubError`."""
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / Path(remote.filename).name
    part = dest.with_name(dest.name + ".part")
    marker = dest.with_name(dest.name + ".part.json")
    identity = {"url": remote.url, "size": remote.size, "sha256": remote.sha256}
    if dest.exists() and remote.sha256 is not None and _sha256(dest) == remote.sha256:
        return dest  # already here, and the same file
    if not (part.exists() and marker.exists() and json.loads(marker.read_text()) == identity):
        part.write_bytes(b"")
        marker.write_text(json.dumps(identity))
    have = part.stat().st_size
    if remote.size is None or have < remote.size:
        have = _transfer(http, remote, part, have, progress)
    if remote.size is not None and have != remote.size:
        raise DownloadInterrupted(
            f"the download stopped at {have} of {remote.size} bytes; run the same command again to resume"
        )
    if remote.sha256 is not None:
        actual = _sha256(part)
        if actual != remote.sha256:
            part.unlink()
            marker.unlink()
            raise ChecksumMismatch(
                f"{remote.filename}: SHA-256 {actual} is not the published {remote.sha256}; the file was deleted, "
                "run the command again"
            )
    part.replace(dest)
    marker.unlink()
    return dest


def _transfer(http: httpx.Client, remote: RemoteFile, part: Path, have: int, progress: Progress | None) -> int:
    headers = dict(remote.headers)
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        with http.stream("GET", remote.url, headers=headers, timeout=TIMEOUT_S, follow_redirects=True) as response:
            if response.status_code == 416:  # what we have is all there is, or the file changed
                return have
            if response.status_code >= 400:
                raise HubError(f"downloading {remote.filename}: the hub answered {response.status_code}")
            resumed = response.status_code == 206
            with part.open("ab" if resumed else "wb") as out:
                have = have if resumed else 0
                if progress is not None:
                    progress(have, remote.size)
                for chunk in response.iter_bytes(CHUNK_BYTES):
                    out.write(chunk)
                    have += len(chunk)
                    if progress is not None:
                        progress(have, remote.size)
    except httpx.TransportError as exc:
        have = part.stat().st_size
        raise DownloadInterrupted(
            f"the connection broke at {have} of {remote.size or '?'} bytes ({exc.__class__.__name__}); "
            "run the same command again to resume"
        ) from None
    return have


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        while chunk := data.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()
