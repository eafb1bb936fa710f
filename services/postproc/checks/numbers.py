"""Numbers and stated computations in free text, parsed exactly.

`normalize` rewrites the many ways a model writes maths (LaTeX, full-width Chinese symbols, ×, ÷,
superscripts, "times", "乘以") into one plain ASCII form while remembering where every character
came from, so findings can point at the original text. `find_chains` then finds runs like
`a + b = c + d = e` and parses each side with sympy numbers (never `eval`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import sympy

from services.postproc.checks.numerals import NUMERAL_RULES

# One character for one character: offsets stay put.
_SAME_LENGTH = str.maketrans(
    {
        "＝": "=", "＋": "+", "－": "-", "−": "-", "÷": "/", "／": "/",
        "（": "(", "）": ")", "％": "%", "≃": "≈",
        **{chr(0xFF10 + d): str(d) for d in range(10)},
    }
)  # fmt: skip
_SUPERSCRIPTS = "⁰¹²³⁴⁵⁶⁷⁸⁹"

Repl = str | Callable[[re.Match[str]], str]

# "2 × 4, which equals 8", "(2 + 6) × 3, which is 24", "2×4，结果是8", "3加4得7": the result of the
# computation just written, stated as a clause. Read as `=` only right after a written
# computation: "the sum of 5 and 7, which is 12" states no computation, and "7 = 12" would be one.
_RESULT_CLAUSE = re.compile(
    r"(?<=[\d%)])[ \t]*[,，]?[ \t]*(?:"
    r"(?:which|that)\s+(?:is(?:\s+equal\s+to)?|equals|gives(?:\s+us)?|makes|comes\s+to)\s+"
    r"|结果是|结果为|得到|得出|得|(?<=[,，])[ \t]*等于"
    r")[ \t]*(?=-?\d[\d,.]*(?![\d,.])(?![A-Za-z(^]))",  # a number, not an expression: "gives -2x = -46"
    re.IGNORECASE,
)


def _computes(clause: re.Match[str]) -> bool:
    """Whether the line ends, right before the clause, in an expression with an operator."""
    text = clause.string
    line = text[text.rfind("\n", 0, clause.start()) + 1 : clause.start()]
    found = runs(line)
    if not found or found[-1][-1].end != len(line):
        return False
    kinds = [t.kind for t in found[-1]]
    if "rel" in kinds:
        return False  # "2x + 4y = 94, which gives …" already states its result
    return any(k == "op" and i > 0 and kinds[i - 1] in ("num", "rp", "pct") for i, k in enumerate(kinds))


_RULES: list[tuple[re.Pattern[str], Repl]] = [
    *NUMERAL_RULES,
    (re.compile(r"\\[dt]?frac\{([^{}]*)\}\{([^{}]*)\}"), lambda m: f"({m[1]})/({m[2]})"),
    (re.compile(r"\\(?:times|cdot|ast)(?![A-Za-z])"), "*"),
    (re.compile(r"\\div(?![A-Za-z])"), "/"),
    (re.compile(r"\\approx(?![A-Za-z])"), "≈"),
    (re.compile(r"\\ne(?:q)?(?![A-Za-z])"), "≠"),
    (re.compile(r"\\%"), "%"),
    (re.compile(r"\\text\{([^{}]*)\}"), lambda m: f" {m[1]} "),
    (re.compile(r"\^\{([^{}]*)\}"), lambda m: f"^({m[1]})"),
    (re.compile(r"\{,\}"), ","),
    (re.compile(r"\\(?:left|right)(?![A-Za-z])|\\[()\[\]]|\\?\$"), ""),
    (re.compile(r"\\[,;:! ]"), " "),
    (re.compile(f"[{_SUPERSCRIPTS}]+"), lambda m: "^" + m[0].translate(str.maketrans(_SUPERSCRIPTS, "0123456789"))),
    # Python-style powers before markdown bold is removed.
    (re.compile(r"(?<=[\d)])\*\*(?=[\d(])"), "^"),
    (re.compile(r"\*\*"), ""),
    # A lone ASCII * is multiplication only between operands; otherwise it is markdown emphasis.
    (re.compile(r"(?<![\w)%\s])\s*\*|\*\s*(?![\w(\s])|(?<=\n)\*(?=\s)|^\*(?=\s)"), ""),
    (re.compile(r"[×✕∗⋅]"), "*"),
    (re.compile(r"(?<=\d)\s*[xX·]\s*(?=\d)"), "*"),
    (re.compile(r"(?<=[\d%)])\s*(?:multiplied by|times|乘以|乘)\s*(?=[\d(])"), "*"),
    (re.compile(r"(?<=[\d%)])\s*(?:divided by|除以)\s*(?=[\d(])"), "/"),
    (re.compile(r"(?<=[\d%)])\s*(?:plus|加上|加)\s*(?=[\d(])"), "+"),
    (re.compile(r"(?<=[\d%)])\s*(?:minus|减去|减)\s*(?=[\d(])"), "-"),
    (re.compile(r"(?<=%)\s*of\s+(?=\d)"), "*"),
    (re.compile(r"(?<=[\d%)])\s*(?:is\s+equal\s+to|equals|等于)\s*(?=[-\d(])"), " = "),
    (re.compile(r"(?<=\d)的(?=\d+(?:\.\d+)?%)"), "*"),
    (_RESULT_CLAUSE, lambda m: " = " if _computes(m) else m[0]),
]


@dataclass(frozen=True)
class Normalized:
    text: str
    origin: tuple[int, ...]
    """`origin[i]` is the index in the original text of `text[i]`."""

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Map the normalized range `[start, end)` back to the original text."""
        return self.origin[start], self.origin[end - 1] + 1


def normalize(text: str) -> Normalized:
    out, origin = text.translate(_SAME_LENGTH), list(range(len(text)))
    for pattern, repl in _RULES:
        pieces: list[str] = []
        moved: list[int] = []
        pos = 0
        for m in pattern.finditer(out):
            pieces.append(out[pos : m.start()])
            moved.extend(origin[pos : m.start()])
            new = repl if isinstance(repl, str) else repl(m)
            pieces.append(new)
            if new:
                moved.extend([origin[m.start()]] * (len(new) - 1) + [origin[m.end() - 1]])
            pos = m.end()
        if not pieces:
            continue
        pieces.append(out[pos:])
        moved.extend(origin[pos:])
        out, origin = "".join(pieces), moved
    return Normalized(out, tuple(origin))


# ---------------------------------------------------------------------------------------------
# Literals

NUMBER = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\d,])|\d+(?:\.\d+)?"
_MAX_DIGITS = 40
_MAX_EXPONENT = 200
_MAX_POWER_BASE = 10**50


def literal_value(digits: str) -> sympy.Rational:
    """Exact value of a number as written: `1,000,000` → 1000000, `3.25` → 13/4."""
    return sympy.Rational(digits.replace(",", ""))


def decimals(digits: str) -> int:
    return len(digits.partition(".")[2])


def fmt(value: sympy.Expr) -> str:
    """A value for a message: 84, 2.5, 10/3 (≈ 3.3333)."""
    if value.is_Integer:
        return f"{int(value):,}" if abs(value) >= 10_000 else str(value)
    if value.is_Rational:
        q = int(value.q)
        while q % 2 == 0:
            q //= 2
        while q % 5 == 0:
            q //= 5
        if q == 1:
            text = format(sympy.Float(value, 30), "f").rstrip("0").rstrip(".")
            return text
        return f"{float(value):.6g}…"
    return f"≈ {float(sympy.N(value, 15)):.6g}"


# ---------------------------------------------------------------------------------------------
# Tokens and runs


@dataclass(frozen=True)
class Token:
    kind: str
    """num, op, lp, rp, rel, pct or var."""
    text: str
    start: int
    end: int


_TOKEN = re.compile(
    rf"(?P<num>{NUMBER})|(?P<op>[-+*/^])|(?P<lp>\()|(?P<rp>\))|(?P<rel>[=≈])|(?P<pct>%)"
    r"|(?P<var>(?<![A-Za-z])[A-Za-z](?![A-Za-z]))|(?P<ws>[ \t]+)"
)
_OPERAND_END = {"num", "var", "rp", "pct"}
_OPERAND_START = {"num", "var", "lp"}
# Implicit multiplication only when written tight: 2x, 2(3 + 4), (a + b)(c), x(y).
_IMPLICIT = {("num", "var"), ("num", "lp"), ("rp", "lp"), ("var", "lp"), ("rp", "var")}


def runs(text: str) -> list[list[Token]]:
    """Maximal stretches of maths-looking tokens. Two operands separated only by a space start a
    new run ("step 2 3 + 4" is not "23 + 4")."""
    runs: list[list[Token]] = []
    current: list[Token] = []
    spaced = False
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            if current:
                runs.append(current)
            current, spaced = [], False
            pos += 1
            continue
        kind = m.lastgroup or ""
        pos = m.end()
        if kind == "ws":
            spaced = True
            continue
        token = Token(kind, m[0], m.start(), m.end())
        if (
            current
            and current[-1].kind in _OPERAND_END
            and kind in _OPERAND_START
            and (spaced or (current[-1].kind, kind) not in _IMPLICIT)
        ):
            runs.append(current)
            current = []
        current.append(token)
        spaced = False
    if current:
        runs.append(current)
    return runs


# ---------------------------------------------------------------------------------------------
# Parsing


class _Unparsable(Exception):
    pass


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.pos = 0

    def parse(self) -> sympy.Expr:
        value = self.expr()
        if self.pos != len(self.tokens):
            raise _Unparsable
        return value

    def peek(self) -> Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise _Unparsable
        self.pos += 1
        return token

    def expr(self) -> sympy.Expr:
        value = self.term()
        while (t := self.peek()) is not None and t.text in "+-" and t.kind == "op":
            self.pos += 1
            value = value + self.term() if t.text == "+" else value - self.term()
        return value

    def term(self) -> sympy.Expr:
        value = self.unary()
        while (t := self.peek()) is not None:
            if t.kind == "op" and t.text in "*/":
                self.pos += 1
                right = self.unary()
                if t.text == "/":
                    if right == 0:
                        raise _Unparsable
                    value = value / right
                else:
                    value = value * right
            elif (self.tokens[self.pos - 1].kind, t.kind) in _IMPLICIT:
                value = value * self.unary()
            else:
                break
        return value

    def unary(self) -> sympy.Expr:
        t = self.peek()
        if t is not None and t.kind == "op" and t.text in "+-":
            self.pos += 1
            inner = self.unary()
            return -inner if t.text == "-" else inner
        return self.power()

    def power(self) -> sympy.Expr:
        base = self.atom()
        t = self.peek()
        if t is not None and t.kind == "op" and t.text == "^":
            self.pos += 1
            exponent = self.unary()
            if not exponent.is_number or abs(exponent) > _MAX_EXPONENT:
                raise _Unparsable
            if base.is_number and abs(base) > _MAX_POWER_BASE and exponent > 1:
                raise _Unparsable  # (10^200)^200 would be a 40,000-digit number
            if base == 0 and exponent.is_negative:
                raise _Unparsable
            return sympy.Pow(base, exponent)
        return base

    def atom(self) -> sympy.Expr:
        t = self.take()
        if t.kind == "num":
            if len(t.text) > _MAX_DIGITS:
                raise _Unparsable
            value: sympy.Expr = literal_value(t.text)
        elif t.kind == "var":
            value = sympy.Symbol(t.text)
        elif t.kind == "lp":
            value = self.expr()
            if self.take().kind != "rp":
                raise _Unparsable
        else:
            raise _Unparsable
        if (p := self.peek()) is not None and p.kind == "pct":
            self.pos += 1
            value = value / 100
        return value


def parse(tokens: list[Token]) -> sympy.Expr | None:
    """The exact value of a token list, or None when it is not a well-formed expression."""
    if not tokens:
        return None
    try:
        return _Parser(tokens).parse()
    except (_Unparsable, RecursionError):
        return None


# ---------------------------------------------------------------------------------------------
# Chains


@dataclass(frozen=True)
class Element:
    """One side of a stated equality: `12 * 7`, `84`, `2x + 4y`."""

    tokens: tuple[Token, ...]
    value: sympy.Expr

    @property
    def start(self) -> int:
        return self.tokens[0].start

    @property
    def end(self) -> int:
        return self.tokens[-1].end

    @property
    def literal(self) -> bool:
        """A number as written, optionally a percentage: nothing was computed."""
        kinds = [t.kind for t in self.tokens]
        if kinds in (["num"], ["num", "pct"]):
            return True
        return kinds in (["op", "num"], ["op", "num", "pct"]) and self.tokens[0].text == "-"

    @property
    def unit(self) -> sympy.Rational:
        """One unit in the last written place of a literal (0.01 for `3.14`, 0.001 for `4.5%`)."""
        num = next(t for t in self.tokens if t.kind == "num")
        unit = sympy.Rational(1, 10 ** decimals(num.text))
        return unit / 100 if self.tokens[-1].kind == "pct" else unit

    @property
    def symbols(self) -> set[str]:
        return {t.text for t in self.tokens if t.kind == "var"}


@dataclass(frozen=True)
class Chain:
    elements: tuple[Element, ...]
    relations: tuple[str, ...]
    """`relations[i]` ("=" or "≈") sits between `elements[i]` and `elements[i + 1]`."""


_CONTINUATION = re.compile(r"(?:\bof|\btimes|的|乘|除|倍)\s*$")
_LETTER_BEFORE = re.compile(r"[A-Za-z\u4e00-\u9fff]\s*$")


def _drop_first(text: str, run_start: int, first: list[Token]) -> bool:
    """Whether the first side of a run is really the tail of something written before it."""
    before = text[run_start - 1] if run_start else ""
    if before and (before in ":.,_\\'\"" or (before.isascii() and before.isalnum())):
        return True  # 10:30, v1.2, 1,5, x_1: the run starts mid-token
    head = text[max(0, run_start - 12) : run_start]
    if _CONTINUATION.search(head):
        return True  # "20% of 50", "50的", "twice": the first side is half of a product
    if first[0].kind == "op":
        return True  # "apples + 3 = 5": the left operand is a word
    # "so 50 = 0.2 × 50": 50 belongs to the sentence, not the computation
    return len(first) == 1 and first[0].kind == "num" and _LETTER_BEFORE.search(head) is not None


def _drop_last(text: str, run_end: int) -> bool:
    after = text[run_end : run_end + 2]
    return after[:1] in (":", "_", "\\") or (after[:1] in ".," and after[1:2].isdigit())


def _trim(tokens: list[Token]) -> list[Token]:
    """Strip stray trailing operators and unmatched brackets at the ends of a side."""
    tokens = list(tokens)
    while tokens and tokens[-1].kind == "op":
        tokens.pop()
    depth = sum(1 if t.kind == "lp" else -1 if t.kind == "rp" else 0 for t in tokens)
    while depth > 0 and tokens and tokens[0].kind == "lp":
        tokens.pop(0)
        depth -= 1
    while depth < 0 and tokens and tokens[-1].kind == "rp":
        tokens.pop()
        depth += 1
    return tokens


def find_chains(text: str) -> list[Chain]:
    """Every run of two or more sides joined by `=` or `≈` in normalized text."""
    chains = []
    for run in runs(text):
        if not any(t.kind == "rel" for t in run):
            continue
        if any(t.kind == "num" and re.match(r"0\d", t.text) for t in run):
            continue  # 2024-05-10, 010-1234: leading zeros mean dates and codes, not maths
        while run and run[0].kind == "op" and run[0].text == "-" and _spaced_after(run):
            run = run[1:]  # a markdown bullet, not a minus
        if not run:
            continue
        sides: list[list[Token]] = [[]]
        relations: list[str] = []
        for t in run:
            if t.kind == "rel":
                sides.append([])
                relations.append(t.text)
            else:
                sides[-1].append(t)
        first_start = sides[0][0].start if sides[0] else run[0].start
        if sides[0] and _drop_first(text, first_start, sides[0]):
            sides[0] = []
        if sides[-1] and _drop_last(text, sides[-1][-1].end):
            sides[-1] = []
        elements: list[Element | None] = []
        for side in sides:
            trimmed = _trim(side)
            value = parse(trimmed)
            elements.append(Element(tuple(trimmed), value) if value is not None else None)
        chains.extend(_split_on_gaps(elements, relations))
    return chains


def _spaced_after(run: list[Token]) -> bool:
    return len(run) > 1 and run[1].start > run[0].end


def _split_on_gaps(elements: list[Element | None], relations: list[str]) -> list[Chain]:
    chains: list[Chain] = []
    current: list[Element] = []
    rels: list[str] = []
    for i, element in enumerate(elements):
        if element is None:
            if len(current) > 1:
                chains.append(Chain(tuple(current), tuple(rels)))
            current, rels = [], []
            continue
        if current:
            rels.append(relations[i - 1])
        current.append(element)
    if len(current) > 1:
        chains.append(Chain(tuple(current), tuple(rels)))
    return chains


# ---------------------------------------------------------------------------------------------
# The writer taking something back

RETRACT_WINDOW_CHARS = 80
_RETRACTION = re.compile(
    r"\b(?:wrong|mistake|miscalculat\w*|not right|incorrect|oops)\b|不对|算错|错了|有误|不正确",
    re.IGNORECASE,
)
_QUESTION_THEN_NO = re.compile(r"\s*[?？]\s*(?:\S+\s*){0,3}?(?:no\b|不|wait)", re.IGNORECASE)


def retracted(after: str) -> bool:
    """Whether the text right after a statement questions it or calls it wrong."""
    window = after[:RETRACT_WINDOW_CHARS]
    return bool(_QUESTION_THEN_NO.match(window) or _RETRACTION.search(window))
