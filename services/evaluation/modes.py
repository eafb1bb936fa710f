"""A mode is a name and the extra fields it adds to `POST /v1/jobs`: a mode the job API learns later
needs one entry here, and a server that does not know the field answers 422, which the harness
reports as "unavailable"."""

from __future__ import annotations

from typing import Any

from services.evaluation.exceptions import UnknownMode

MODE_NAMES = ("plain", "samples", "revise", "both")
DEFAULT_SAMPLES = 5
"""Answers per question in modes `samples` and `both` (self-consistency: the majority answer wins)."""
DEFAULT_REVISE = 2
"""Revision rounds in modes `revise` and `both`."""


def build_modes(
    names: list[str], *, samples: int = DEFAULT_SAMPLES, revise: int = DEFAULT_REVISE
) -> dict[str, dict[str, Any]]:
    """The named modes with their extra request fields, in the order given."""
    table: dict[str, dict[str, Any]] = {
        "plain": {},
        "samples": {"samples": samples},
        "revise": {"revise": revise},
        "both": {"samples": samples, "revise": revise},
    }
    modes = {}
    for name in names:
        if name not in table:
            raise UnknownMode(f"no mode named {name!r}; known modes: {', '.join(table)}")
        modes[name] = table[name]
    return modes
