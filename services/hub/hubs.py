"""Where a model file is on the Hugging Face Hub or on ModelScope: its download URL, size and
SHA-256, read from each hub's file endpoints (the same ones their official clients use, at the
endpoint those clients honour: HF_ENDPOINT, MODELSCOPE_DOMAIN)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import quote

import httpx

from services.hub.exceptions import FileMissing, HubError, HubUnreachable

Source = Literal["huggingface", "modelscope"]
SHA256 = re.compile(r"^[0-9a-f]{64}$")
TIMEOUT_S = 30.0


@dataclass(frozen=True)
class RemoteFile:
    source: Source
    repo: str
    filename: str
    url: str
    size: int | None
    sha256: str | None
    """None when the hub publishes no SHA-256 for it (a small file kept in git, not LFS)."""
    headers: dict[str, str] = field(default_factory=dict)


class HuggingFace:
    """`HEAD {endpoint}/{repo}/resolve/{revision}/{file}` (not followed: the redirect's own
    headers carry the LFS object's size and SHA-256), then a GET that follows the redirect."""

    def __init__(self, http: httpx.Client, endpoint: str, token: str | None = None) -> None:
        self._http = http
        self._endpoint = endpoint.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}

    def locate(self, repo: str, filename: str, revision: str = "main") -> RemoteFile:
        url = f"{self._endpoint}/{repo}/resolve/{quote(revision, safe='')}/{quote(filename)}"
        response = _request(self._http, "HEAD", url, self._endpoint, "HF_ENDPOINT", headers=self._headers)
        if response.status_code in (401, 403):
            raise FileMissing(
                f"{repo} on the Hugging Face Hub is gated or private ({response.status_code}): accept its licence "
                "on the website and set HF_TOKEN"
            )
        if response.status_code == 404:
            if response.headers.get("x-error-code") == "EntryNotFound":
                listing = f"{self._endpoint}/{repo}/tree/{revision}"
                raise FileMissing(f"{repo} has no file {filename!r} at {revision!r}: check the name ({listing})")
            raise FileMissing(f"no repository {repo!r} (or revision {revision!r}) on {self._endpoint}: check the name")
        if response.status_code >= 400:
            raise HubError(f"{self._endpoint} answered {response.status_code} for {repo}/{filename}")
        size = response.headers.get("x-linked-size") or response.headers.get("content-length")
        etag = (response.headers.get("x-linked-etag") or response.headers.get("etag") or "").strip('"').lower()
        etag = etag.removeprefix("w/").strip('"')
        return RemoteFile(
            source="huggingface",
            repo=repo,
            filename=filename,
            url=url,
            size=int(size) if size else None,
            sha256=etag if SHA256.match(etag) else None,
            headers=self._headers,
        )


class ModelScope:
    """`GET {endpoint}/api/v1/models/{repo}/repo/files?Revision=...&Recursive=true` lists each
    file with its size and SHA-256; the file is `.../repo?Revision=...&FilePath=...`."""

    def __init__(self, http: httpx.Client, domain: str) -> None:
        self._http = http
        # As the modelscope client does: https:// and the domain; a domain given with a scheme
        # (a local mirror over http) is taken as it is.
        self._endpoint = (domain if "://" in domain else f"https://{domain}").rstrip("/")

    def locate(self, repo: str, filename: str, revision: str = "master") -> RemoteFile:
        listing = f"{self._endpoint}/api/v1/models/{repo}/repo/files"
        params = {"Revision": revision, "Recursive": "true"}
        response = _request(self._http, "GET", listing, self._endpoint, "MODELSCOPE_DOMAIN", params=params)
        if response.status_code == 404:
            raise FileMissing(f"no repository {repo!r} (or revision {revision!r}) on {self._endpoint}: check the name")
        if response.status_code >= 400:
            raise HubError(f"{self._endpoint} answered {response.status_code} for {repo}")
        try:
            files = response.json()["Data"]["Files"]
        except (ValueError, KeyError, TypeError):
            raise HubError(f"{self._endpoint} sent a file list this client cannot read for {repo}") from None
        entry = next((f for f in files if f.get("Path") == filename and f.get("Type") != "tree"), None)
        if entry is None:
            ggufs = sorted(str(f.get("Path")) for f in files if str(f.get("Path", "")).endswith(".gguf"))
            hint = f" (its GGUF files: {', '.join(ggufs[:12])})" if ggufs else ""
            raise FileMissing(f"{repo} has no file {filename!r} at {revision!r}{hint}")
        sha = str(entry.get("Sha256") or "").lower()
        url = f"{self._endpoint}/api/v1/models/{repo}/repo?Revision={quote(revision)}&FilePath={quote(filename)}"
        return RemoteFile(
            source="modelscope",
            repo=repo,
            filename=filename,
            url=url,
            size=int(entry["Size"]) if entry.get("Size") else None,
            sha256=sha if SHA256.match(sha) else None,
        )


def _request(
    http: httpx.Client, method: str, url: str, endpoint: str, setting: str, **kwargs: object
) -> httpx.Response:
    try:
        return http.request(method, url, timeout=TIMEOUT_S, **kwargs)  # type: ignore[arg-type]
    except httpx.TransportError as exc:
        raise HubUnreachable(
            f"cannot reach {endpoint} ({exc.__class__.__name__}: {exc}): check the network, or set {setting} "
            "to a mirror you can reach"
        ) from None
