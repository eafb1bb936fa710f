"""What an inference worker is doing now, as its heartbeat says (`load` field of its hash).

The worker writes it at every beat; the gateway reads it for the operators' page (`/status`) and
for `/metrics`. `slots` and `busy` hold for a worker that runs one job at a time (1 slot) as for
one that runs several at once.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class WorkerLoad(BaseModel):
    model_config = ConfigDict(extra="ignore")  # a newer worker may say more: an older gateway reads the rest

    slots: int = Field(default=1, ge=1)
    """Jobs it can run at once."""
    busy: int = Field(default=0, ge=0)
    """Jobs it runs now (never more than `slots`)."""
    generated_tokens: int = Field(default=0, ge=0)
    """Tokens it has streamed since it started (a counter: it starts again at 0 with the process)."""
    tokens_per_s: float = Field(default=0.0, ge=0)
    """Tokens it streamed per second over its last `window_s`."""
    window_s: float = Field(default=0.0, ge=0)
    """How long `tokens_per_s` was measured over (shorter only in its first seconds)."""
