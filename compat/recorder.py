"""A recording reverse proxy: forwards every request to thinkstream unchanged and keeps what a
client sent (method, path, JSON body) and how long the answer took. The compatibility run puts it
between Open WebUI and thinkstream to capture the real request shapes."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from services.runtime.redis_server import free_port

_HOP_HEADERS = {"host", "content-length", "connection", "transfer-encoding", "accept-encoding"}


@dataclass
class Exchange:
    method: str
    path: str
    body: Any
    status: int = 0
    started_s: float = 0.0
    first_byte_ms: float = 0.0
    total_ms: float = 0.0
    response_bytes: int = 0
    response_head: str = field(default="", repr=False)


class RecordingProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.exchanges: list[Exchange] = []
        self._client = httpx.AsyncClient(base_url=self.upstream, timeout=httpx.Timeout(10.0, read=None))
        app = Starlette(routes=[Route("/{path:path}", self._forward, methods=["GET", "POST", "DELETE"])])
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def start(self) -> RecordingProxy:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)

    def chat_requests(self) -> list[Exchange]:
        return [e for e in self.exchanges if e.method == "POST" and e.path.endswith("/chat/completions")]

    def dump(self) -> list[dict[str, Any]]:
        return [asdict(e) for e in self.exchanges]

    async def _forward(self, request: Request) -> StreamingResponse:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        exchange = Exchange(method=request.method, path=path, body=body, started_s=time.time())
        self.exchanges.append(exchange)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        start = time.perf_counter()
        upstream = await self._client.send(
            self._client.build_request(request.method, path, content=raw, headers=headers), stream=True
        )
        exchange.status = upstream.status_code

        async def relay() -> AsyncIterator[bytes]:
            try:
                async for chunk in upstream.aiter_raw():
                    if not exchange.response_bytes:
                        exchange.first_byte_ms = round((time.perf_counter() - start) * 1000, 1)
                    if len(exchange.response_head) < 4000:
                        exchange.response_head += chunk.decode(errors="replace")[:4000]
                    exchange.response_bytes += len(chunk)
                    yield chunk
            finally:
                exchange.total_ms = round((time.perf_counter() - start) * 1000, 1)
                await upstream.aclose()

        response_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_HEADERS}
        return StreamingResponse(relay(), status_code=upstream.status_code, headers=response_headers)
