"""A local HTTP server that answers like the Hugging Face Hub's and ModelScope's file endpoints,
for `thinkstream pull` tests (no network here): HF's `HEAD /{repo}/resolve/{rev}/{file}` with a
redirect whose headers carry the LFS size and SHA-256, and the redirected GET; ModelScope's file
list and file download. Byte ranges are honoured, and `cut_after` makes the next download break
off after that many bytes, as a dropped connection would."""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qs, unquote, urlsplit


class FakeHub:
    def __init__(self) -> None:
        self.files: dict[tuple[str, str], bytes] = {}
        """(repo, path) -> content."""
        self.cut_after: int | None = None
        self.ranges: list[str | None] = []
        """The Range header of each download, in order."""
        self.tamper = False
        """Serve every file with its first byte changed (the published SHA-256 stays)."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def add(self, repo: str, path: str, content: bytes) -> str:
        self.files[(repo, path)] = content
        return hashlib.sha256(content).hexdigest()

    def __enter__(self) -> FakeHub:
        self._thread.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def do_HEAD(self) -> None:
            self._route(head=True)

        def do_GET(self) -> None:
            self._route(head=False)

        def _route(self, *, head: bool) -> None:
            parts = urlsplit(self.path)
            query = {key: values[0] for key, values in parse_qs(parts.query).items()}
            path = unquote(parts.path)
            if path.startswith("/api/v1/models/") and path.endswith("/repo/files"):
                repo = path.removeprefix("/api/v1/models/").removesuffix("/repo/files")
                return self._modelscope_list(repo)
            if path.startswith("/api/v1/models/") and path.endswith("/repo"):
                repo = path.removeprefix("/api/v1/models/").removesuffix("/repo")
                return self._content(repo, query.get("FilePath", ""), head)
            if "/resolve/" in path:
                repo, _, rest = path.lstrip("/").partition("/resolve/")
                _, _, filename = rest.partition("/")
                return self._hf_resolve(repo, filename, head)
            if path.startswith("/cdn/"):
                repo, _, filename = path.removeprefix("/cdn/").rpartition("/")
                return self._content(repo, filename, head)
            self.send_error(404)

        def _hf_resolve(self, repo: str, filename: str, head: bool) -> None:
            content = hub.files.get((repo, filename))
            if content is None:
                known = any(r == repo for r, _ in hub.files)
                self.send_response(404)
                self.send_header("X-Error-Code", "EntryNotFound" if known else "RepoNotFound")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(302)
            self.send_header("Location", f"/cdn/{repo}/{filename}")
            self.send_header("X-Repo-Commit", "0" * 40)
            self.send_header("X-Linked-Size", str(len(content)))
            self.send_header("X-Linked-Etag", f'"{hashlib.sha256(content).hexdigest()}"')
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _modelscope_list(self, repo: str) -> None:
            files = [
                {"Name": path.rsplit("/", 1)[-1], "Path": path, "Type": "blob", "Size": len(content),
                 "Sha256": hashlib.sha256(content).hexdigest()}
                for (r, path), content in hub.files.items()
                if r == repo
            ]  # fmt: skip
            if not files:
                self.send_error(404)
                return
            body = json.dumps({"Code": 200, "Data": {"Files": files}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _content(self, repo: str, filename: str, head: bool) -> None:
            content = hub.files.get((repo, filename))
            if content is None:
                self.send_error(404)
                return
            requested = self.headers.get("Range")
            if not head:
                hub.ranges.append(requested)
            start = int(requested.removeprefix("bytes=").split("-")[0]) if requested else 0
            if hub.tamper:
                content = bytes([content[0] ^ 0xFF]) + content[1:]
            body = content[start:]
            self.send_response(206 if requested else 200)
            if requested:
                self.send_header("Content-Range", f"bytes {start}-{len(content) - 1}/{len(content)}")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if head:
                return
            cut, hub.cut_after = hub.cut_after, None
            self.wfile.write(body if cut is None else body[:cut])
            if cut is not None:
                self.wfile.flush()
                self.close_connection = True

    return Handler
