"""Structural checks: is there an answer, did the reasoning end properly, is the text looping."""

from __future__ import annotations

import re
from itertools import islice

from services.postproc.checks.base import Check, CheckResult, Trace
from services.postproc.checks.numbers import find_chains, normalize
from services.postproc.checks.reading import Item, asked, items, read
from shared.schemas import Span

# A chunk of 8–200 characters repeated back to back at least four times.
_LOOP = re.compile(r"(.{8,200}?)\1{3,}", re.DOTALL)
_SEED = 8
"""Every match starts its copies with the same 8 characters (its chunk's first 8), 8–200 apart."""


def find_loop(text: str) -> re.Match[str] | None:
    """`_LOOP.search(text)`, without running it on a text that has no candidate: the search tries
    up to 193 chunk lengths at every position (about 5 ms per 1,000 characters, half of all the
    checks of a short answer), while the candidates are found in one pass over the text."""
    return _LOOP.search(text) if _may_loop(text) else None


def _may_loop(text: str) -> bool:
    """Whether some 8 characters start at four positions spaced alike, 8–200 apart, as the four
    copies of any match's chunk do. False rules a match out; True only lets the search run."""
    starts: dict[str, list[int]] = {}
    for at in range(len(text) - _SEED + 1):
        starts.setdefault(text[at : at + _SEED], []).append(at)
    for positions in starts.values():
        if len(positions) < 4:
            continue
        present = set(positions)
        for index, first in enumerate(positions):
            for second in islice(positions, index + 1, None):
                gap = second - first
                if gap > 200:
                    break
                if gap >= _SEED and first + 2 * gap in present and first + 3 * gap in present:
                    return True
    return False


class AnswerPresent(Check):
    name = "answer_present"

    def run(self, trace: Trace) -> CheckResult:
        if trace.answer.strip():
            return CheckResult()
        return CheckResult([self.finding("error", "The model gave no answer after its reasoning.")])


class ReasoningClosed(Check):
    name = "reasoning_closed"

    def run(self, trace: Trace) -> CheckResult:
        end = len(trace.reasoning)
        span = Span(field="reasoning", start=max(end - 1, 0), end=end) if end else None
        if trace.reasoning_end == "budget":
            msg = (
                "The reasoning hit its token budget and was closed by the server; "
                "the answer may rest on unfinished reasoning."
            )
            return CheckResult([self.finding("warning", msg, span)])
        if trace.reasoning_end == "eos":
            msg = "The model stopped in the middle of its reasoning; the server closed it and asked for the answer."
            return CheckResult([self.finding("warning", msg, span)])
        if trace.reasoning_end == "requested":
            # The person asked for the answer now: worth saying, not a fault (and no reason to
            # revise, which would reason again).
            msg = "The reasoning was ended on request (stop thinking); the answer rests on what it had so far."
            return CheckResult([self.finding("info", msg, span)])
        if trace.reasoning_end == "length":
            msg = (
                "The reasoning was cut off by max_tokens before any answer; "
                "raise max_tokens or lower the reasoning budget."
            )
            return CheckResult([self.finding("error", msg, span)])
        return CheckResult()


class NotTruncated(Check):
    name = "not_truncated"

    def run(self, trace: Trace) -> CheckResult:
        if trace.finish_reason != "length" or trace.reasoning_end == "length":
            return CheckResult()
        end = len(trace.answer)
        msg = "The answer was cut off by max_tokens and may be incomplete; raise max_tokens."
        return CheckResult([self.finding("error", msg, Span(field="answer", start=max(end - 1, 0), end=end))])


class NoRepetition(Check):
    name = "no_repetition"

    def run(self, trace: Trace) -> CheckResult:
        findings = []
        for field_name, text in (("reasoning", trace.reasoning), ("answer", trace.answer)):
            match = find_loop(text)
            if match is None:
                continue
            unit = match.group(1)
            times = len(match.group(0)) // len(unit)
            preview = unit.strip().replace("\n", " ")[:60]
            findings.append(
                self.finding(
                    "error" if field_name == "answer" else "warning",
                    f"The {field_name} repeats itself: {preview!r} appears {times} times in a row.",
                    Span(field=field_name, start=match.start(), end=match.end()),  # type: ignore[arg-type]
                )
            )
        return CheckResult(findings)


class AnswersQuestion(Check):
    """The answer has the form the question asks for: a number, two numbers, yes or no, one of
    the options. An answer that never says one cannot be right, whatever else it says."""

    name = "answers_question"

    def run(self, trace: Trace) -> CheckResult:
        if not trace.answer.strip():
            return CheckResult()  # answer_present says so
        ask = asked(trace.question)
        statement = read(trace.answer, ask, conclusion=False)
        span = Span(field="answer", start=0, end=len(trace.answer))
        if statement is None and ask.kind == "option" and _names_several(trace.answer, ask.options):
            message = f"The answer names {' and '.join(ask.options)} but does not say which one is the answer."
            return CheckResult([self.finding("error", message, span, expected=" or ".join(ask.options))])
        if statement is None:
            wanted = {
                "values": "a number",
                "yesno": "yes or no",
                "option": " or ".join(ask.options),
            }[ask.kind]
            message = f"The answer never says {wanted}, which is what the question asks for."
            return CheckResult([self.finding("error", message, span, expected=wanted)])
        found = items(normalize(trace.answer))
        if ask.kind == "values" and _only_repeats(found, ask.given, trace.answer):
            shown = ", ".join(dict.fromkeys(i.raw for i in found))
            message = f"The answer only repeats numbers the question gives ({shown}); it does not answer it."
            return CheckResult([self.finding("error", message, span, quote=shown)])
        if ask.kind == "values" and ask.several and len({i.raw for i in found}) == 1:
            message = f"The question asks for several values; the answer gives only {statement.values[0].raw}."
            return CheckResult([self.finding("error", message, span, quote=statement.values[0].raw)])
        return CheckResult()


def _only_repeats(found: list[Item], given: tuple[Item, ...], answer: str) -> bool:
    """Two or more of the question's numbers and nothing else, with no computation: the
    question restated ("5 pencils cost 30 dollars.")."""
    if len({i.raw for i in found}) < 2 or find_chains(normalize(answer).text):
        return False
    return all(any(i.same(g) for g in given) for i in found)


def _names_several(answer: str, options: tuple[str, ...]) -> bool:
    return sum(option.lower() in answer.lower() for option in options) > 1
