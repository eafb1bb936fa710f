"""What `KVReuse` reads and writes of a llama-cpp-python context, for unit tests without a model."""

from __future__ import annotations

import numpy as np


class HeldContext:
    """A context holding `tokens`: llama-cpp-python's `input_ids` and `n_tokens`."""

    def __init__(self, tokens: list[int], capacity: int = 4096) -> None:
        self.input_ids = np.zeros(capacity, dtype=np.intc)
        self.input_ids[: len(tokens)] = tokens
        self.n_tokens = len(tokens)

    @property
    def _input_ids(self) -> np.ndarray:
        return self.input_ids[: self.n_tokens]
