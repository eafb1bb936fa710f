"""`bench.concurrency`'s llama-server: when it fails, the error carries the end of its log."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

from bench import concurrency
from bench.concurrency import llama_server

# Answers /health, then drops the connection of any other request, as a server that crashed in
# its slot would; it writes what happened to stderr first.
DROPS_REQUESTS = """
import http.server, sys
port = int(sys.argv[sys.argv.index("--port") + 1])

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()

    def do_POST(self):
        print("slot 0: out of memory for the context", file=sys.stderr, flush=True)
        self.close_connection = True
        self.connection.close()

    def log_message(self, *args):
        pass

http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""


def fake_binary(tmp_path: Path, body: str) -> str:
    binary = tmp_path / "llama-server"
    binary.write_text(f"#!{sys.executable}\n{body}")
    binary.chmod(0o755)
    return str(binary)


def test_a_peer_that_exits_at_start_says_why(tmp_path: Path) -> None:
    binary = fake_binary(tmp_path, 'import sys\nprint("error: unknown argument: -fa", file=sys.stderr)\nsys.exit(3)\n')
    with (
        pytest.raises(RuntimeError, match=r"exited with 3(.|\n)*error: unknown argument: -fa"),
        llama_server(binary, 1, 512, 1),
    ):
        pass


def test_a_peer_that_drops_a_request_says_why(tmp_path: Path) -> None:
    binary = fake_binary(tmp_path, DROPS_REQUESTS)
    dropped = r"-np 4 \(running\)(.|\n)*out of memory for the context"
    with pytest.raises(RuntimeError, match=dropped), llama_server(binary, 4, 512, 1) as (url, _pids):
        httpx.post(f"{url}/v1/chat/completions", json={}, timeout=5)


def test_a_peer_that_never_answers_is_not_measured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(concurrency, "READY_TIMEOUT_S", 1.0)
    binary = fake_binary(tmp_path, 'import sys, time\nprint("loading model", file=sys.stderr)\ntime.sleep(60)\n')
    with pytest.raises(RuntimeError, match=r"did not answer(.|\n)*loading model"), llama_server(binary, 1, 512, 1):
        pass
