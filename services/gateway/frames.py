"""A stored event as the stream carries it, decoded once however many clients follow its job.

The fan-out turns each published message into a `StreamItem` once, and every stream of the job
shares it: its SSE frame is built once, not per client (at thousands of streams that per-client
work was what the gateway's CPU went to; see bench/stream_plane.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

KEEPALIVE = b": ping\n\n"
"""An SSE comment: keeps proxies from closing an idle stream."""


@dataclass(frozen=True)
class StreamItem:
    seq: int
    type: str
    data: str
    """The event exactly as stored: JSON with `seq`, `ts`, `type` and the payload."""
    frame: bytes = field(repr=False, default=b"")
    """The SSE frame: `event`, `data` (one line: the JSON has no newline) and `id` = seq."""


def stream_item(raw: bytes | str) -> StreamItem:
    data = raw.decode() if isinstance(raw, bytes) else raw
    head = json.loads(data)
    seq, kind = head["seq"], head["type"]
    frame = f"event: {kind}\ndata: {data}\nid: {seq}\n\n".encode()
    return StreamItem(seq=seq, type=kind, data=data, frame=frame)
