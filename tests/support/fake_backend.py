"""A scripted batched backend for unit tests of continuous batching.

It behaves like a deterministic model with a KV cache per sequence: the token after a context
depends only on that context (a hash of it), and the model ends its turn once a context reaches
the length its first token names. It checks what a real context would refuse (a token put at
a position other than the next one of its sequence, a step larger than the batch) and records
every step, so tests can see what was evaluated together.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Sequence

from services.inference.engine import Sampling
from services.inference.exceptions import SlotError
from services.inference.slots import Row

END_TOKEN = 0
FIRST_ID = 1000


def next_token(context: Sequence[int]) -> int:
    """What the scripted model writes after `context` (greedy)."""
    if len(context) >= context[0]:
        return END_TOKEN
    return FIRST_ID + zlib.crc32(",".join(map(str, context)).encode()) % 9000


def alone(prompt: Sequence[int], limit: int = 10_000) -> list[int]:
    """What the model writes after `prompt` with nothing else running."""
    context, out = list(prompt), []
    while len(out) < limit and (token := next_token(context)) != END_TOKEN:
        out.append(token)
        context.append(token)
    return out


class ScriptedBackend:
    def __init__(self, n_seq: int = 4, n_batch: int = 64, fail_on: int | None = None) -> None:
        self.n_seq = n_seq
        self.n_batch = n_batch
        self.kv: dict[int, list[int]] = {seq: [] for seq in range(n_seq)}
        self.steps: list[list[Row]] = []
        self.samplings: dict[int, Sampling] = {}
        self.truncations: list[tuple[int, int]] = []
        self.fail_on = fail_on
        """A token that makes the step holding it fail."""
        self.gate: threading.Event | None = None
        """When set, each step waits for this event (tests hold the decoder still)."""

    def step(self, rows: Sequence[Row]) -> dict[int, int]:
        if self.gate is not None:
            self.gate.wait(5)
        assert sum(len(row.tokens) for row in rows) <= self.n_batch, "a step larger than the batch"
        assert len({row.seq for row in rows}) == len(rows), "a sequence twice in one step"
        self.steps.append(list(rows))
        if self.fail_on is not None and any(self.fail_on in row.tokens for row in rows):
            raise SlotError("scripted failure")
        out = {}
        for row in rows:
            kv = self.kv[row.seq]
            assert row.pos == len(kv), f"sequence {row.seq}: token at {row.pos}, it holds {len(kv)}"
            kv.extend(row.tokens)
            if row.sample:
                out[row.seq] = next_token(kv)
        return out

    def set_sampling(self, seq: int, sampling: Sampling) -> None:
        self.samplings[seq] = sampling

    def truncate(self, seq: int, keep: int) -> None:
        self.truncations.append((seq, keep))
        del self.kv[seq][keep:]

    def is_end(self, token: int) -> bool:
        return token == END_TOKEN

    def piece(self, token: int) -> bytes:
        return f"<{token}>".encode()

    def save(self, seq: int) -> bytes:
        return self.save_of(self.kv[seq])

    def load(self, seq: int, data: bytes) -> None:
        self.kv[seq] = self.load_of(data)

    @staticmethod
    def save_of(tokens: Sequence[int]) -> bytes:
        """The state `save` gives for a sequence holding `tokens`."""
        return ",".join(map(str, tokens)).encode()

    @staticmethod
    def load_of(data: bytes) -> list[int]:
        """The tokens a saved state holds."""
        return [int(t) for t in data.decode().split(",") if t]

    def rows_of(self, seq: int) -> list[tuple[int, Row]]:
        """(step index, row) of every step that evaluated `seq`."""
        return [(i, row) for i, rows in enumerate(self.steps) for row in rows if row.seq == seq]
