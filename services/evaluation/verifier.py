"""Hugging Face's math-verify, called with its own timeouts off and bounded here.

math-verify bounds parsing and comparison with SIGALRM, and its cleanup calls `signal.alarm(0)`,
which cancels any alarm the caller had set (RQ's job timeout is one). So its timeouts stay off
(`parsing_timeout=None`, `timeout_seconds=None`) and every call runs in a daemon thread that we
wait for at most `VERIFY_TIMEOUT_S`: no signal is touched, in any thread. A call that overruns is
abandoned (scored as wrong) and its thread dies with the process; inputs are cut to
`MAX_TEXT_CHARS` so such calls stay rare.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sympy
from math_verify import ExprExtractionConfig, LatexExtractionConfig, StringExtractionConfig, parse, verify

VERIFY_TIMEOUT_S = 5.0
MAX_TEXT_CHARS = 4000
"""Only the end of a longer answer is read: the final answer is there."""

# math-verify warns once that its timeout is off; that is the point here.
logging.getLogger("math_verify").setLevel(logging.ERROR)

NUMBER_CONFIGS = (LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig())
"""Boxed first, then LaTeX, then plain numbers and expressions (math-verify's own priorities)."""
GOLD_CONFIGS = (ExprExtractionConfig(),)


@dataclass(frozen=True)
class Verified:
    correct: bool
    extracted: tuple[str, ...]
    """The string math-verify read from the answer; empty when it read nothing."""
    timed_out: bool = False
    atomic: bool = True
    """What was read is a number (23, 0.875, 87.5%, 5/12), not an unevaluated expression
    (`29 - 8 - 4`), which is how an answer that only restates the question reads."""


def _atomic(expr: Any) -> bool:
    if not isinstance(expr, sympy.Basic):
        return True
    if isinstance(expr, sympy.UnevaluatedExpr):
        expr = expr.args[0]
    if expr.is_Number:
        return True
    args = expr.args
    if isinstance(expr, sympy.Mul) and len(args) == 2:
        # a/b and p% parse as Mul(a, Pow(b, -1)) and Mul(p, 1/100), left unevaluated
        return all(_atomic(a) or (isinstance(a, sympy.Pow) and a.args[0].is_Number and a.args[1] == -1) for a in args)
    return False


def _bounded(fn: Any, timeout_s: float) -> tuple[bool, Any]:
    box: list[Any] = []

    def run() -> None:
        try:
            box.append(fn())
        except Exception as exc:  # math-verify raises on odd input; that answer is simply unread
            box.append(exc)

    thread = threading.Thread(target=run, name="math-verify", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive() or not box:
        return False, None
    return True, box[0]


def verify_text(
    gold: str,
    answer: str,
    *,
    answer_configs: Sequence[Any] = NUMBER_CONFIGS,
    gold_configs: Sequence[Any] = GOLD_CONFIGS,
    timeout_s: float = VERIFY_TIMEOUT_S,
) -> Verified:
    """Parse `gold` and `answer` and compare them, gold first (math-verify is not symmetric)."""
    text = answer[-MAX_TEXT_CHARS:]

    def work() -> tuple[bool, tuple[str, ...], bool]:
        parsed_gold = parse(gold, extraction_config=list(gold_configs), parsing_timeout=None)
        parsed = parse(text, extraction_config=list(answer_configs), parsing_timeout=None)
        said = tuple(str(p) for p in parsed[1:2]) if len(parsed) > 1 else tuple(str(p) for p in parsed[:1])
        if not parsed_gold or not parsed:
            return False, said, True
        return bool(verify(parsed_gold, parsed, timeout_seconds=None)), said, _atomic(parsed[0])

    finished, result = _bounded(work, timeout_s)
    if not finished:
        return Verified(False, (), timed_out=True)
    if isinstance(result, Exception):
        return Verified(False, ())
    correct, said, atomic = result
    return Verified(correct, said, atomic=atomic)


def extract(answer: str, *, configs: Sequence[Any] = NUMBER_CONFIGS, timeout_s: float = VERIFY_TIMEOUT_S) -> str | None:
    """What math-verify reads as the answer in `answer`, as written; None when nothing."""
    text = answer[-MAX_TEXT_CHARS:]
    finished, result = _bounded(lambda: parse(text, extraction_config=list(configs), parsing_timeout=None), timeout_s)
    if not finished or isinstance(result, Exception) or not result:
        return None
    return str(result[-1])


def string_configs(strings: Sequence[str]) -> tuple[StringExtractionConfig]:
    """Match each candidate as written, lower-case, capitalised or upper-case ("No, …"); the
    match is read lower-cased."""
    variants = dict.fromkeys(v for s in strings for v in (s, s.lower(), s.capitalize(), s.upper()))
    return (StringExtractionConfig(strings=tuple(variants), lowercase=True),)
