"""Is a model's answer right? Read the final answer out of free text and compare it with the gold.

Where the final answer is, in order: every `\\boxed{…}`; else what follows the last "the answer
is", "answer:", "答案是" or "答："; else the whole answer. Numbers are read with the checks' own
parser (LaTeX, full-width digits, thousands separators, fractions, `23 × 2 = 46` read as 46), after
Chinese numerals before a measure word (二十三只, 三分之一) are turned into digits. Then:

- numbers: in a box, every value must be a gold value and every gold value present; after a
  marker, the first k values are read (k = how many gold values); with no marker, the last k, the
  usual convention for word problems. Values the question itself gives are skipped, unless a gold
  value is one of them. Order does not matter, so "12 chickens and 23 rabbits" scores as right; the
  question set keeps few such pairs.
- yes/no: the first explicit yes or no (是 / 否 / 不是 standing alone in Chinese), not counting
  an echoed "yes or no".
- choice: the first candidate named.

A decimal that rounds a repeating gold value correctly to two or more places (0.42 for 5/12) is
right; 23.4 is not 23.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sympy

from services.evaluation.questions import Question
from services.postproc.checks.agreement import Item, items
from services.postproc.checks.numbers import normalize

_BOXED = re.compile(r"\\(?:boxed|fbox)\{((?:[^{}]|\{[^{}]*\})*)\}")
_MARKER = re.compile(
    r"(?:final\s+answer|the\s+answer|answer)\s*(?:is\b|[:：=])|(?:最终答案|答案)\s*(?:是|为|[:：])|(?<![回解])答\s*[:：]",
    re.IGNORECASE,
)
_YES_NO_EN = re.compile(r"\b(yes|no)\b", re.IGNORECASE)
# 是 is also the Chinese copula ("51是合数"), so it counts only standing alone: "是。", "是的，…", "否".
_ALONE_BEFORE = r"(?:^|(?<=[\s,，。.:：“”\"'「」()（）*]))"
_ALONE_AFTER = r"(?=$|[\s,，。.!！;；:：“”\"'「」()（）*])"
_YES_NO_ZH = re.compile(f"{_ALONE_BEFORE}(不是|否|是)(?:的)?{_ALONE_AFTER}")
# "Answer yes or no" / 请回答“是”或“否” echoed from the question is not an answer.
_YES_OR_NO = re.compile(
    r"\b(?:yes\s+or\s+no|no\s+or\s+yes)\b|[“\"'「]?[是否][”\"'」]?\s*或\s*[“\"'「]?[是否][”\"'」]?", re.I
)

# ---------------------------------------------------------------------------------------------
# Chinese numerals

_ZH_DIGIT = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_ZH_UNIT = {"十": 10, "百": 100, "千": 1000}
_ZH_NUMERAL = "[零〇一二两三四五六七八九十百千万]"
_MEASURE = (
    "分钟|小时|千米|公里|厘米|毫米|千克|公斤|星期|平方|立方|"
    "只|个|人|岁|元|块|角|天|本|头|条|辆|米|秒|页|次|张|支|斤|克|件|名|位|年|月|周|颗|棵|朵|匹|道|题|"
    "种|根|双|袋|箱|盒|瓶|杯|碗|把|台|间|层|级|倍|份|组|排|行|点|套|部|节|封|首|座|家|户|分"
)
_ZH_FRACTION = re.compile(f"({_ZH_NUMERAL}+)分之({_ZH_NUMERAL}+)")
# A numeral run counts before a measure word or at the end of a clause. Not after 这/那/每/哪
# ("这两个数" is "these two numbers", a phrase, not a value) nor after 第 (an ordinal).
_ZH_COUNT = re.compile(
    f"(?<![这那每哪第{_ZH_NUMERAL[1:-1]}])({_ZH_NUMERAL}+)(?=\\s*(?:{_MEASURE})|[，。！？；、,.!?;]|$)"
)


def zh_numeral_value(text: str) -> int | None:
    """二十三 → 23, 一百零五 → 105, 两万 → 20000, 二〇二四 → 2024; None when it is not a number."""
    if text[0] not in _ZH_DIGIT and text[0] != "十":
        return None
    if all(ch in _ZH_DIGIT for ch in text):
        return int("".join(str(_ZH_DIGIT[ch]) for ch in text)) if len(text) > 1 else _ZH_DIGIT[text]
    total = section = digit = 0
    for ch in text:
        if ch in _ZH_DIGIT:
            digit = _ZH_DIGIT[ch]
        elif ch in _ZH_UNIT:
            section += (digit or 1) * _ZH_UNIT[ch]
            digit = 0
        else:  # 万
            total += (section + digit) * 10_000
            section = digit = 0
    return total + section + digit


def _zh_count(m: re.Match[str]) -> str:
    run = m[1]
    after = m.string[m.end() : m.end() + 2]
    if run == "一":
        return run  # 一个, 一次, 一共: mostly the article "a", not a count
    if run == "十" and after.startswith("分") and not after.startswith(("分钟", "分之")):
        return run  # 十分: "very"
    value = zh_numeral_value(run)
    return run if value is None else str(value)


def _zh_fraction(m: re.Match[str]) -> str:
    bottom, top = zh_numeral_value(m[1]), zh_numeral_value(m[2])
    return m[0] if bottom is None or top is None else f"{top}/{bottom}"


def zh_numerals_to_digits(text: str) -> str:
    """Rewrite Chinese numerals that count something as digits: 二十三只 → 23只, 三分之一 → 1/3."""
    return _ZH_COUNT.sub(_zh_count, _ZH_FRACTION.sub(_zh_fraction, text))


# ---------------------------------------------------------------------------------------------
# Reading values

_NUMBERED_LIST = re.compile(r"^[ \t]*\d{1,2}[.)、](?:[ \t]+|$)", re.MULTILINE)
_STEP = re.compile(r"\bstep\s*\d+\s*[:.]?|第\s*\d+\s*步", re.IGNORECASE)


_SIMPLE_FRAC = re.compile(r"\\[dt]?frac\{(\d+)\}\{(\d+)\}")


def _prepare(text: str) -> str:
    text = _SIMPLE_FRAC.sub(r"\1/\2", zh_numerals_to_digits(text))  # \frac{5}{12} is the fraction 5/12
    if re.search(r"^[ \t]*1[.)、][ \t]+", text, re.MULTILINE):
        text = _NUMBERED_LIST.sub("", text)  # "1. Chickens: 23" is a list, not the value 1
    return _STEP.sub(" ", text)


def values(text: str, *, prepared: bool = False) -> list[Item]:
    """The values written in `text`, as the checks read them. `prepared`: `text` is already
    part of a text that went through the Chinese-numeral and list-marker rewriting."""
    return items(normalize(text if prepared else _prepare(text)))


def _time(raw: str) -> tuple[int, ...] | None:
    return tuple(int(part) for part in raw.split(":")) if re.fullmatch(r"\d{1,2}:\d{2}(?::\d{2})?", raw) else None


def same_value(gold: Item, given: Item) -> bool:
    """Whether `given` states the gold value: exactly, or as a correct rounding to 0.01 or finer."""
    if gold.value is None or given.value is None:
        return gold.raw == given.raw or (_time(gold.raw) is not None and _time(gold.raw) == _time(given.raw))
    if gold.value == given.value:
        return True
    unit = given.unit
    return bool(0 < unit <= sympy.Rational(1, 100) and abs(given.value - gold.value) * 2 <= unit)


# ---------------------------------------------------------------------------------------------
# Scoring


@dataclass(frozen=True)
class Score:
    correct: bool
    extracted: tuple[str, ...]
    """What was read as the final answer: values, yes/no or a name; empty when nothing was."""


def _spans(answer: str) -> tuple[list[str], list[str]]:
    """Box contents, and the text after each marker from the last marker back to the first."""
    boxes = [m[1] for m in _BOXED.finditer(answer)]
    after_markers = [answer[m.end() :] for m in reversed(list(_MARKER.finditer(answer)))]
    return boxes, after_markers


def score(question: Question, answer: str) -> Score:
    """Whether `answer` gives the gold answer of `question`."""
    if question.kind == "yesno":
        return _score_yes_no(question, answer)
    if question.kind == "choice":
        return _score_choice(question, answer)
    return _score_numbers(question, answer)


def _score_numbers(question: Question, answer: str) -> Score:
    golds = [item for value in question.gold for item in values(value)]
    given = [g for g in values(question.question) if not any(same_value(gold, g) for gold in golds)]

    def read(text: str) -> list[Item]:
        return [v for v in values(text, prepared=True) if not any(same_value(g, v) for g in given)]

    answer = _prepare(answer)  # whole: a numbered list is recognised by its "1." line
    boxes, after_markers = _spans(answer)
    k = len(golds)
    if boxes:
        found = [v for box in boxes for v in read(box)]
    else:
        found = next((read(rest)[:k] for rest in after_markers if len(read(rest)) >= k), [])
        if not found:
            found = read(answer)[-k:]
    extracted = tuple(v.raw for v in found)
    if len(found) < k:
        return Score(False, extracted)
    every_gold_given = all(any(same_value(g, v) for v in found) for g in golds)
    nothing_else = all(any(same_value(g, v) for g in golds) for v in found)
    return Score(every_gold_given and nothing_else, extracted)


def _first_yes_no(text: str) -> str | None:
    text = _YES_OR_NO.sub(" ", text)
    en, zh = _YES_NO_EN.search(text), _YES_NO_ZH.search(text)
    first = min((m for m in (en, zh) if m), key=lambda m: m.start(), default=None)
    if first is None:
        return None
    return "yes" if first[1].lower() in ("yes", "是") else "no"


def _score_yes_no(question: Question, answer: str) -> Score:
    boxes, after_markers = _spans(answer)
    said = None
    for text in [*boxes[::-1], *after_markers, answer]:
        if (said := _first_yes_no(normalize(text).text)) is not None:
            break
    return Score(said == question.gold[0], (said,) if said else ())


def _score_choice(question: Question, answer: str) -> Score:
    assert question.choices is not None
    names = "|".join(re.escape(c) for c in sorted(question.choices, key=len, reverse=True))
    pattern = re.compile(f"(?<![A-Za-z])(?:{names})(?![A-Za-z])", re.IGNORECASE)
    canonical = {c.lower(): c for c in question.choices}
    boxes, after_markers = _spans(answer)
    named = None
    for text in [*boxes[::-1], *after_markers, answer]:
        if (m := pattern.search(text)) is not None:
            named = canonical[m[0].lower()]
            break
    return Score(named == question.gold[0], (named,) if named else ())
