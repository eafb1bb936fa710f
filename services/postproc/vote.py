"""Self-consistency (Wang et al., 2022): normalise each sample's final answer and take the
majority; the winner's share of the samples that answered is the confidence."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from services.postproc.checks.numbers import fmt
from services.postproc.checks.reading import final_values
from shared.schemas import SampleView

NO_ANSWER = ""


def answer_key(answer: str) -> str:
    """What two answers must share to count as the same: their final values ("23 | 12"), or
    for answers without numbers, their words (case and punctuation ignored)."""
    values = final_values(answer)
    if values:
        return " | ".join(fmt(v.value) if v.value is not None else v.raw for v in values)
    return re.sub(r"[\W_]+", " ", answer.lower()).strip()[:120]


@dataclass(frozen=True)
class Tally:
    winner: int
    votes: dict[str, int]
    confidence: float


def tally(samples: Sequence[SampleView]) -> Tally | None:
    """The majority answer; ties go to the answer whose sample passed its checks, then to the
    earliest sample. None when no sample answered."""
    answered = [s for s in samples if s.verdict != "error" and s.key != NO_ANSWER]
    if not answered:
        return None
    votes = Counter(s.key for s in answered)
    winner = max(answered, key=lambda s: (votes[s.key], s.verdict == "pass", s.verdict != "fail", -s.index))
    return Tally(winner=winner.index, votes=dict(votes), confidence=round(votes[winner.key] / len(answered), 3))
