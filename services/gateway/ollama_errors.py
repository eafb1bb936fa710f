"""Ollama's error shape on Ollama's routes.

Every refusal of the gateway is OpenAI's `{"error": {"message", "type", "code"}}`, whoever makes
it (the key check in front of routing, the body limit, the handlers). Ollama's clients read
`{"error": "message"}` (the official client shows the whole object otherwise), and Ollama
answers an invalid body with 400, not 422. This middleware, outermost, rewrites the error
answers of `/api/*` to that shape, so that every error source keeps one way of raising.
"""

from __future__ import annotations

import json

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.ollama_api import error_line

PREFIX = "/api/"


class OllamaErrorShape:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        body: list[bytes] = []

        async def reshape(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                if message["status"] < 400:
                    await send(message)
                    return
                start = message  # held until the whole error body is here
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            body.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            status, content = _ollama(start["status"], b"".join(body))
            start["status"] = status
            headers = MutableHeaders(scope=start)
            headers["content-length"] = str(len(content))
            await send(start)
            await send({"type": "http.response.body", "body": content})

        await self.app(scope, receive, reshape)


def _ollama(status: int, content: bytes) -> tuple[int, bytes]:
    try:
        error = json.loads(content)["error"]
    except (ValueError, KeyError, TypeError):
        return status, content  # not one of ours: left as it is
    message = error.get("message", "") if isinstance(error, dict) else str(error)
    return (400 if status == 422 else status), error_line(message).encode()
