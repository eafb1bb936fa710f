"""Is a model's answer right? Scored against the gold with Hugging Face's math-verify.

Deliberately independent of the answer checks (`services.postproc.checks`): a scorer that reads
answers with the checker's own parser would agree with the checker's mistakes, and the figures
that say how far a `pass` can be trusted would measure the checker against itself.

- numbers, one gold value: math-verify reads the answer (a `\\boxed{}` first, then "final answer
  is" / "answer:", then LaTeX, then the last plain number or expression) and compares it with
  the gold, gold first. 7/8, 0.875 and 87.5% are the same value; 0.42 is not 5/12.
- numbers, several gold values (chickens and rabbits, 甲 and 乙): the part after the last
  "answer" marker (else the whole answer) is cut into clauses at commas, semicolons, "and", 和,
  与; math-verify reads one value per clause, and the last k values must match the k gold values
  in the order the question asks for them (any order when the question says `unordered`).
- yes/no and choice questions: math-verify's string extraction with the candidates
  (yes/no, or the question's `choices`); of several, it takes the last one named.
- a clock time (`11:20`) is compared as written.

Chinese answers go through a thin pre-pass first (`chinese.py`: Chinese numerals, 答案是, 是/否).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from services.evaluation import chinese
from services.evaluation.questions import Question
from services.evaluation.verifier import GOLD_CONFIGS, NUMBER_CONFIGS, extract, string_configs, verify_text

_CLAUSE = re.compile(r"[,;，；、\n]|\band\b|[和与及]", re.IGNORECASE)
_MARKER = re.compile(r"\b(?:final\s+answer|answer)\b", re.IGNORECASE)
_TIME = re.compile(r"\d{1,2}:\d{2}")
_YES_OR_NO = re.compile(r"\b(?:yes\s+or\s+no|no\s+or\s+yes)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Score:
    correct: bool
    extracted: tuple[str, ...]
    """What was read as the final answer: values, yes/no or a name; empty when nothing was."""


_SENTENCE = re.compile(r"(?<=[?？.。!！])\s*")
_OPERATOR = re.compile(r"[-+*/×÷^]")
MIN_ECHO_CHARS = 8


def without_echo(answer: str, question: str) -> str:
    """The answer less any verbatim copy of the question or of one of its sentences: small
    models often repeat the question, and "What is 17 + 9?" must not score as 26."""
    for piece in sorted({question, *_SENTENCE.split(question)}, key=len, reverse=True):
        if len(piece.strip()) >= MIN_ECHO_CHARS:
            answer = answer.replace(piece.strip(), " ")
    return answer


def _echoed_expression(read: tuple[str, ...], question: str) -> bool:
    """Whether what was read is an expression copied from the question (`17 + 9`), not a result."""
    squeezed = "".join(question.split())
    return any(_OPERATOR.search(r) and "".join(r.split()).strip(".。,，") in squeezed for r in read)


def score(question: Question, answer: str) -> Score:
    """Whether `answer` gives the gold answer of `question`."""
    answer = without_echo(answer, question.question)
    if question.kind == "yesno":
        text = _YES_OR_NO.sub(" ", chinese.prepare(answer, yes_no=True))
        return _strings(question.gold[0], text, ("yes", "no"))
    if question.kind == "choice":
        assert question.choices is not None
        return _strings(question.gold[0], chinese.prepare(answer, names=tuple(question.choices)), question.choices)
    text = chinese.prepare(answer)
    result = _one(question.gold[0], text) if len(question.gold) == 1 else _several(question, text)
    if result.correct and _echoed_expression(result.extracted, question.question):
        return Score(False, result.extracted)
    return result


def _strings(gold: str, text: str, candidates: list[str] | tuple[str, ...]) -> Score:
    configs = string_configs(candidates)
    result = verify_text(gold, text, answer_configs=configs, gold_configs=configs)
    return Score(result.correct, result.extracted)


def _one(gold: str, text: str) -> Score:
    if _TIME.fullmatch(gold):
        times = _TIME.findall(text)
        return Score(bool(times) and times[-1] == gold, tuple(times[-1:]))
    result = verify_text(gold, text, answer_configs=NUMBER_CONFIGS, gold_configs=GOLD_CONFIGS)
    # math-verify evaluates an expression it reads: `29 - 8 - 4` "equals" 17. An answer is a
    # value; an expression left standing is the question restated, not answered.
    return Score(result.correct and result.atomic, result.extracted)


def _several(question: Question, text: str) -> Score:
    markers = list(_MARKER.finditer(text))
    region = text[markers[-1].end() :] if markers else text
    read: list[str] = []
    for clause in _CLAUSE.split(region):
        if not re.search(r"\d", clause):
            continue
        if (value := extract(clause)) is not None:
            read.append(value)
    k = len(question.gold)
    found = read[-k:]
    if len(found) < k:
        return Score(False, tuple(found))
    if question.unordered:
        remaining = list(found)
        for gold in question.gold:
            match = next((value for value in remaining if _one(gold, value).correct), None)
            if match is None:
                return Score(False, tuple(found))
            remaining.remove(match)
        return Score(True, tuple(found))
    correct = all(_one(gold, value).correct for gold, value in zip(question.gold, found, strict=True))
    return Score(correct, tuple(found))
