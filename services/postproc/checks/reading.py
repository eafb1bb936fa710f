"""Reading a final answer out of free text: what the answer says, what the reasoning concluded.

Three kinds of answer, decided by the question (`asked`):
- values: numbers, fractions, decimals, percentages (7/8 = 0.875 = 87.5%), several at once
  ("20 chickens and 15 rabbits", 甲是25，乙是15), with units around them ignored;
- an option the question offers ("Who has more, Anna or Ben?", 甲和乙谁多, "A还是B");
- yes or no (是 / 否 / 不是 in Chinese).

Where: the last `\\boxed{}`, else what follows the last "the answer is" / 答案是, else for a
conclusion what follows the last "so / therefore / 所以 / 因此" near the end of the reasoning,
else for an answer the whole answer when it is short enough to read. A reading says whether it
is `firm` (a box, a marker, or one value only) or a guess: only firm readings can fail an answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

import sympy

from services.postproc.checks.numbers import NUMBER, Normalized, decimals, find_chains, literal_value, normalize

# A weak "so …" conclusion counts only in the last part of the reasoning: its last 30%, or its
# last 200 characters when that is more (a short reasoning is all conclusion).
WEAK_TAIL_FRACTION = 0.3
WEAK_TAIL_MIN_CHARS = 200
# The most values an answer may carry and still be read whole when it has no marker, and the
# most it may carry and still be failed on them (x and y, 甲乙丙).
MAX_UNMARKED_VALUES = 6
MAX_FIRM_SEVERAL = 3

_BOXED = re.compile(r"\\boxed\{((?:[^{}]|\{[^{}]*\})*)\}")
STRONG = re.compile(
    r"(?:final\s+answer|the\s+answer|answer)\s*(?:is|should\s+be|would\s+be|will\s+be|must\s+be)\b"
    r"|final\s+answer\s*[:=]|\banswer\s*:|(?:最终答案|答案)\s*(?:是|为|应该是|应为|[:：])|(?<![回解])答\s*[:：]",
    re.IGNORECASE,
)
WEAK = re.compile(
    r"\b(?:so|therefore|thus|hence|in total|altogether|the result is|equals|we get)\b"
    r"|所以|因此|故|综上|总共|一共|共有|结果是|得到",
    re.I,
)
_END = re.compile(r"[。！？!?\n；;]|\.(?!\d)")
_ITEM = re.compile(
    r"(?P<opaque>\d{1,2}:\d{2}(?::\d{2})?|\d{4}-\d{1,2}-\d{1,2}|\d+:\d+)"
    r"|(?P<frac>(?<![\w)])-?\d+/\d+)(?!\d|\.\d)"
    rf"|(?P<num>(?:(?<![\w)])-)?(?:{NUMBER}))(?P<pct>%|\s*percent\b)?"
)
_JOINED = re.compile(r"\band\b|[,，、;；和及与]", re.I)
_NOT_JOINED = re.compile(r"\b(?:because|since|for|of|per|each|from|by|in|at|times|out)\b|因为|由于|每|乘|除|比", re.I)
_MAX_GAP_CHARS = 20

Kind = Literal["values", "option", "yesno"]


@dataclass(frozen=True)
class Item:
    """A value as written: a number, a percentage, a fraction, or an opaque time/date/ratio."""

    raw: str
    value: sympy.Rational | None
    unit: sympy.Rational
    start: int
    end: int
    computed: bool = False
    """The result of a computation written just before it (`23 × 2 = 46`)."""

    def same(self, other: Item) -> bool:
        if self.value is None or other.value is None:
            return self.raw == other.raw
        if self.value == other.value or self.raw.rstrip("%") == other.raw.rstrip("%"):
            return True
        coarse, fine = (self, other) if self.unit > other.unit else (other, self)
        assert fine.value is not None and coarse.value is not None  # both checked above
        return bool(fine.unit < coarse.unit and abs(fine.value - coarse.value) <= coarse.unit / 2)  # a rounding


def items(norm: Normalized) -> list[Item]:
    """Every value in the text except the inside of stated computations: for `23 × 2 = 46` only 46."""
    text = norm.text
    hidden: list[tuple[int, int]] = []
    results: set[int] = set()
    for chain in find_chains(text):
        last = chain.elements[-1]
        hidden.extend((e.start, e.end) for e in chain.elements[:-1])
        if not last.literal or last.symbols:
            hidden.append((last.start, last.end))
        elif any(not e.literal and not e.symbols for e in chain.elements[:-1]):
            results.add(last.start)
    found = []
    for m in _ITEM.finditer(text):
        if any(start <= m.start() < end for start, end in hidden):
            continue
        found.append(_item(m, m.start() in results or m.start() + 1 in results))
    return found


def _item(m: re.Match[str], computed: bool) -> Item:
    if m["opaque"]:
        return Item(m["opaque"], None, sympy.Integer(1), m.start(), m.end(), computed)
    if m["frac"]:
        top, bottom = m["frac"].split("/")
        if int(bottom) == 0:
            return Item(m["frac"], None, sympy.Integer(1), m.start(), m.end(), computed)
        return Item(m["frac"], sympy.Rational(int(top), int(bottom)), sympy.Integer(0), m.start(), m.end(), computed)
    digits = m["num"]
    value = literal_value(digits)
    unit = sympy.Rational(1, 10 ** decimals(digits))
    pct = "%" if m["pct"] else ""
    if pct:
        value, unit = value / 100, unit / 100
    return Item(digits.replace(",", "") + pct, value, unit, m.start(), m.end(), computed)


# ---------------------------------------------------------------------------------------------
# What the question asks for

_YES_NO_EN = re.compile(
    r"\byes\s+or\s+no\b|^\s*(?:is|are|does|do|did|can|could|will|would|has|have|was|were)\b[^?]*\?\s*$", re.I
)
_YES_NO_ZH = re.compile(r"[“\"'「]?是[”\"'」]?\s*或\s*[“\"'「]?否|吗\s*[？?]|是否|是不是|对不对|能不能")
_OPTIONS_EN = re.compile(
    r"(?:,|:|\bis\b|\bhas\b|\bare\b|\bwho\b|\bwhich\b)?\s*([\w.%/]+)\s+or\s+([\w.%/]+)\s*\??\s*$", re.I
)
_OPTIONS_ZH = re.compile(
    r"([\u4e00-\u9fff\w]{1,4}?)(?:和|与|跟)([\u4e00-\u9fff\w]{1,4}?)(?:谁|哪)|([\w\u4e00-\u9fff]{1,6})还是([\w\u4e00-\u9fff]{1,6})"
)


@dataclass(frozen=True)
class Asked:
    kind: Kind
    options: tuple[str, ...] = ()
    given: tuple[Item, ...] = ()
    """The values the question itself states."""
    several: bool = False
    """The question asks for more than one value (chickens and rabbits, 甲 and 乙, x and y)."""


_SEVERAL = re.compile(
    r"\bhow\s+many\b[^?]*\band\s+how\s+many\b|\bwhat\s+are\s+the\s+(?:two|three)\b|\b(?:x|a)\s+and\s+(?:y|b)\b"
    r"|\bhow\s+(?:much|many|old)\b[^?.]*\b(?:each|they|both)\b"
    r"|分别|各(?:有|是|为)?多少|各是|各有|两个数|两数",
    re.I,
)


def asked(question: str) -> Asked:
    given = tuple(items(normalize(question)))
    several = _SEVERAL.search(question) is not None
    last = question.strip().splitlines()[-1] if question.strip() else ""
    if _YES_NO_EN.search(last) or _YES_NO_ZH.search(question):
        return Asked("yesno", given=given)
    m = _OPTIONS_EN.search(last)
    if m and {m[1].lower(), m[2].lower()} != {"yes", "no"} and not m[1].isdigit() and not m[2].isdigit():
        return Asked("option", (m[1], m[2]), given)
    for m in _OPTIONS_ZH.finditer(question):
        names = tuple(g for g in m.groups() if g)
        if len(names) == 2:
            return Asked("option", names, given)
    return Asked("values", given=given, several=several)


# ---------------------------------------------------------------------------------------------
# Statements: a final answer or a conclusion


@dataclass(frozen=True)
class Statement:
    """What a text states as its result, where (in the original text), and how sure the reading is."""

    kind: Kind
    values: tuple[Item, ...] = ()
    option: str | None = None
    yes: bool | None = None
    start: int = 0
    end: int = 0
    firm: bool = True
    text: str = field(default="", compare=False)
    norm: Normalized | None = field(default=None, compare=False)

    def span_of(self, chosen: list[Item]) -> tuple[int, int]:
        """Where some of this statement's values are, in the original text."""
        if self.norm is None or not chosen:
            return self.start, self.end
        return self.norm.span(chosen[0].start, chosen[0].end)[0], self.norm.span(chosen[-1].start, chosen[-1].end)[1]

    @property
    def quote(self) -> str:
        return " ".join(self.text[self.start : self.end].split())

    def shown(self) -> str:
        if self.kind == "option":
            return str(self.option)
        if self.kind == "yesno":
            return "yes" if self.yes else "no"
        return ", ".join(v.raw for v in self.values)


def _segment_end(text: str, start: int) -> int:
    m = _END.search(text, start)
    return m.start() if m else len(text)


def _stated(found: list[Item], start: int, end: int, text: str) -> list[Item]:
    """The first value after a marker, plus any joined to it by "and" or a comma."""
    inside = [i for i in found if start <= i.start < end]
    if not inside:
        return []
    stated = [inside[0]]
    for item in inside[1:]:
        gap = text[stated[-1].end : item.start]
        if len(gap) > _MAX_GAP_CHARS or not _JOINED.search(gap) or _NOT_JOINED.search(gap):
            break
        stated.append(item)
    return stated


def _values_statement(norm: Normalized, original: str, items_: list[Item], firm: bool) -> Statement:
    start, _ = norm.span(items_[0].start, items_[0].end)
    _, end = norm.span(items_[-1].start, items_[-1].end)
    return Statement("values", values=tuple(items_), start=start, end=end, firm=firm, text=original, norm=norm)


def _drop_given(found: list[Item], given: tuple[Item, ...]) -> list[Item]:
    new = [i for i in found if not any(i.same(g) for g in given)]
    return new or found  # "with 35 heads and 94 legs, 23 chickens…": 35 and 94 are givens


def _tail_start(text: str) -> float:
    return min(len(text) * (1 - WEAK_TAIL_FRACTION), max(0, len(text) - WEAK_TAIL_MIN_CHARS))


def _marked_regions(text: str, *, weak: bool) -> list[tuple[int, int]]:
    """(start, end) of the text after each marker, latest first: box contents, then strong
    markers, then (when `weak`) weak markers in the tail."""
    regions = [(m.start(1), m.end(1)) for m in reversed(list(_BOXED.finditer(text)))][:1]
    regions += [(m.end(), _segment_end(text, m.end())) for m in reversed(list(STRONG.finditer(text)))]
    if weak:
        tail = _tail_start(text)
        regions += [
            (m.end(), _segment_end(text, m.end())) for m in reversed(list(WEAK.finditer(text))) if m.start() >= tail
        ]
    return regions


def _read_values(text: str, ask: Asked, *, conclusion: bool) -> Statement | None:
    given = ask.given
    norm = normalize(text)
    found = items(norm)
    boxes = list(_BOXED.finditer(norm.text))
    if boxes:
        box = boxes[-1]
        inside = [i for i in found if box.start(1) <= i.start < box.end(1)]
        if inside:
            return _values_statement(norm, text, inside, True)
    for m in reversed(list(STRONG.finditer(norm.text))):
        if stated := _stated(found, m.end(), _segment_end(norm.text, m.end()), norm.text):
            return _values_statement(
                norm,
                text,
                _drop_given(stated, given) if conclusion else _one_unless_several(_drop_given(stated, given), ask),
                True,
            )
    if conclusion:
        tail = _tail_start(norm.text)
        for m in reversed(list(WEAK.finditer(norm.text))):
            if m.start() < tail:
                break
            stated = _stated(found, m.end(), _segment_end(norm.text, m.end()), norm.text)
            if stated and not any(i.computed for i in stated):
                return _values_statement(norm, text, _drop_given(stated, given), True)
        # No marker: the last stated result ("… 7 × 2 = 14"), which may confirm an answer but is
        # too weak to fail one (the last line is often a check of a given: 46 + 48 = 94).
        results = [i for i in found if i.computed and i.start >= tail and not any(i.same(g) for g in given)]
        return _values_statement(norm, text, results[-1:], firm=False) if results and not ask.several else None
    new = [i for i in found if not any(i.same(g) for g in given)] or found  # "3 + 4 = 7" when 7 was in the question
    if not ask.several and new:
        return _values_statement(norm, text, new[-1:], firm=len(new) == 1)  # the last stated result
    if 0 < len(new) <= MAX_UNMARKED_VALUES:
        return _values_statement(norm, text, new, firm=len(new) <= MAX_FIRM_SEVERAL)
    return None


def _one_unless_several(stated: list[Item], ask: Asked) -> list[Item]:
    return stated if ask.several else stated[:1]


_YES_EN = re.compile(r"\b(yes|no)\b", re.I)
_ALONE_BEFORE = r"(?:^|(?<=[\s,，。.:：“”\"'「」()（）*]))"
_ALONE_AFTER = r"(?=$|[\s,，。.!！;；:：“”\"'「」()（）*])"
_YES_ZH = re.compile(f"{_ALONE_BEFORE}(不是|不对|不|否|是|对)(?:的)?{_ALONE_AFTER}|(没有|不多于|不少于|不会|不能)")
_ECHO = re.compile(
    r"\b(?:yes\s+or\s+no|no\s+or\s+yes)\b|[“\"'「]?[是否][”\"'」]?\s*或\s*[“\"'「]?[是否][”\"'」]?", re.I
)


def _first_yes_no(text: str, start: int, end: int) -> tuple[bool, int, int] | None:
    region = _ECHO.sub(lambda m: " " * len(m[0]), text[start:end])
    found = [m for m in (_YES_EN.search(region), _YES_ZH.search(region)) if m]
    if not found:
        return None
    m = min(found, key=lambda m: m.start())
    word = m[0].lower()
    return word in ("yes", "是", "对", "是的", "对的"), start + m.start(), start + m.end()


def _read_yes_no(text: str, *, conclusion: bool) -> Statement | None:
    for start, end in _marked_regions(text, weak=True):
        if (hit := _first_yes_no(text, start, end)) is not None:
            return Statement("yesno", yes=hit[0], start=hit[1], end=hit[2], text=text)
    if conclusion:
        return None
    hit = _first_yes_no(text, 0, len(text))
    if hit is None:
        return None
    later = _first_yes_no(text, hit[2], len(text))
    firm = later is None or later[0] == hit[0]  # one answer, however often it is said
    return Statement("yesno", yes=hit[0], start=hit[1], end=hit[2], firm=firm, text=text)


_MORE = re.compile(r"\b(?:more|larger|bigger|greater|heavier|longer|taller|older|faster|wins?|won)\b|多|大|重|长|高|快")


def _option_pattern(options: tuple[str, ...]) -> re.Pattern[str]:
    names = "|".join(re.escape(o) for o in sorted(options, key=len, reverse=True))
    return re.compile(f"(?<![A-Za-z])(?:{names})(?![A-Za-z])", re.I)


def _read_option(text: str, options: tuple[str, ...], *, conclusion: bool) -> Statement | None:
    pattern = _option_pattern(options)
    canonical = {o.lower(): o for o in options}
    for start, end in _marked_regions(text, weak=True):
        if (m := pattern.search(text, start, end)) is not None:
            return Statement("option", option=canonical[m[0].lower()], start=m.start(), end=m.end(), text=text)
    if conclusion:
        return None
    named = list(pattern.finditer(text))
    if not named:
        return None
    if len({m[0].lower() for m in named}) == 1:
        m = named[0]
        return Statement("option", option=canonical[m[0].lower()], start=m.start(), end=m.end(), text=text)
    for more in _MORE.finditer(text):
        before = [m for m in named if m.end() <= more.start() and more.start() - m.end() <= 20]
        if before:
            m = before[-1]
            option = canonical[m[0].lower()]
            return Statement("option", option=option, start=m.start(), end=m.end(), firm=False, text=text)
    return None


def read(text: str, ask: Asked, *, conclusion: bool) -> Statement | None:
    """The final answer of an answer text (`conclusion=False`) or the conclusion of a reasoning
    (`conclusion=True`: only what a box or a marker states counts), or None when it does not say."""
    if not text.strip():
        return None
    if ask.kind == "yesno":
        return _read_yes_no(text, conclusion=conclusion)
    if ask.kind == "option":
        return _read_option(text, ask.options, conclusion=conclusion)
    return _read_values(text, ask, conclusion=conclusion)


def final_values(answer: str) -> list[Item]:
    """What an answer gives, for the vote: its box, else what follows "the answer is", else all
    its values when there are few enough to read them all."""
    statement = _read_values(answer, Asked("values", several=True), conclusion=False)
    return list(statement.values) if statement is not None else []
