"""Where the client commands (`ask`, `eval`, `batch`) find the gateway, and the key they send."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx  # the workers and the gateway import this module too: no client library for them

DEFAULT_URL = "http://127.0.0.1:8000"
API_KEY_ENV = "THINKSTREAM_API_KEY"
KEY_HINT = f"pass --api-key or set {API_KEY_ENV}"


def add_gateway_arguments(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--url", default=DEFAULT_URL, help=f"gateway URL (default {DEFAULT_URL})")
    cmd.add_argument(
        "--api-key",
        default=os.environ.get(API_KEY_ENV),
        help=f"the key, when the gateway has keys (default: ${API_KEY_ENV})",
    )


def auth_headers(args: Any) -> dict[str, str]:
    api_key = getattr(args, "api_key", None)
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def refusal(response: httpx.Response) -> str:
    """What the gateway said when it refused a request, with what to do about a key."""
    try:
        message = str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        message = response.text[:200]
    hint = f"; {KEY_HINT}" if response.status_code in (401, 403) else ""
    return f"{response.status_code}: {message}{hint}"
