"""Equations: the values the answer gives must satisfy the equations the reasoning wrote down.

Values come from the answer either directly (`x = 23, y = 12`) or through names the question or
reasoning bound to the unknowns ("let x be the number of chickens" + "23 chickens").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sympy

from services.postproc.checks.base import Check, CheckResult, Derivation, Trace
from services.postproc.checks.numbers import (
    NUMBER,
    Element,
    decimals,
    find_chains,
    fmt,
    literal_value,
    normalize,
    retracted,
)
from services.postproc.checks.reading import asked, items, read
from shared.schemas import Finding, Span

# Answers given as rounded decimals satisfy equations only approximately.
ROUNDED_REL = sympy.Rational(1, 100)

_STOP = r"(?=[,.;:!?\n(（，。；：]|\s+and\b|\s+then\b|$)"
_EN_BINDINGS = [
    re.compile(rf"\blet\s+([a-z])\s+(?:be|represent|denote|stand for|equal|=)\s+(.{{1,60}}?){_STOP}", re.I),
    re.compile(
        rf"\b([a-z])\s*(?:=|:|is|be|represents?|denotes?|for)?\s*(?:the\s+)?(number\s+of\s+[a-z' ]{{1,40}}?){_STOP}",
        re.I,
    ),
    re.compile(r"\blet\s+(?:the\s+)?(number\s+of\s+[a-z' ]{1,40}?)\s+be\s+([a-z])\b", re.I),
]
_ZH_LET = re.compile(r"设([^。；;\n]{1,80})")
_ZH_NAME_THEN_VAR = re.compile(
    r"([\u4e00-\u9fff]{1,6}?)(?:的(?:数量|个数|只数|数目))?(?:有|为|是)\s*([a-zA-Z])(?![a-zA-Z])"
)
_ZH_VAR_THEN_NAME = re.compile(r"(?<![a-zA-Z])([a-zA-Z])\s*(?:为|表示|代表|是)\s*([\u4e00-\u9fff]{1,8})")
_ZH_FILLER = re.compile(r"(?:的)?(?:数量|个数|只数|数目|数)$")
_CLASSIFIER = "只个头辆本人元岁名张条块支台件匹棵"
_SENTENCE_END = re.compile(r"[。！？!?\n；;]|\.(?!\d)")


@dataclass(frozen=True)
class Value:
    value: sympy.Rational
    text: str
    label: str


@dataclass(frozen=True)
class Equation:
    left: Element
    right: Element

    @property
    def expr(self) -> sympy.Expr:
        return self.left.value - self.right.value


def bindings(text: str) -> dict[str, str]:
    """Unknown → the name it stands for: {"x": "chicken", "y": "rabbit"} or {"x": "鸡"}."""
    bound: dict[str, str] = {}
    for pattern in _EN_BINDINGS:
        for m in pattern.finditer(text):
            var, name = (m[1], m[2]) if len(m[1]) == 1 else (m[2], m[1])
            if len(var) == 1 and var.lower() not in ("a", "i"):
                bound.setdefault(var, _english_key(name))
    for sentence in _ZH_LET.finditer(text):
        for m in _ZH_NAME_THEN_VAR.finditer(sentence[1]):
            bound.setdefault(m[2], _chinese_key(m[1]))
        for m in _ZH_VAR_THEN_NAME.finditer(sentence[1]):
            bound.setdefault(m[1], _chinese_key(m[2]))
    return {var: key for var, key in bound.items() if key}


def _english_key(name: str) -> str:
    words = re.findall(r"[a-z]+", name.lower())
    words = [w for w in words if w not in ("the", "a", "an", "number", "of", "count", "amount")]
    return _singular(words[-1]) if words else ""


def _singular(word: str) -> str:
    return word[:-1] if word.endswith("s") and len(word) > 3 else word


def _chinese_key(name: str) -> str:
    name = _ZH_FILLER.sub("", name).rpartition("的")[2]
    return name[-3:]


def answer_values(answer: str, bound: dict[str, str]) -> dict[str, Value]:
    """Values the answer gives: `x = 23` directly, or "23 chickens" for a bound name."""
    values: dict[str, Value] = {}
    norm = normalize(answer)
    for chain in find_chains(norm.text):
        for left, right in zip(chain.elements, chain.elements[1:], strict=False):
            if _is_var(left) and right.literal and right.value.is_Rational:
                values.setdefault(left.tokens[0].text, Value(right.value, _text(norm.text, right), left.tokens[0].text))
    for var, key in bound.items():
        if var not in values and (found := _named_value(norm.text, key)) is not None:
            values[var] = found
    return values


def _named_value(answer: str, key: str) -> Value | None:
    if re.search(r"[\u4e00-\u9fff]", key):
        keys = {key, key.removesuffix("子")}
        alts = "|".join(re.escape(k) for k in keys)
        patterns = [
            rf"({NUMBER})\s*[{_CLASSIFIER}]?\s*(?:{alts})",
            rf"(?:{alts})[^\d，。,;；和与及、]{{0,4}}?({NUMBER})",
        ]
    else:
        stem = re.escape(key)
        patterns = [
            rf"({NUMBER})\s+(?:[a-z-]+\s+)?{stem}\w*",
            rf"\b{stem}\w*\s*(?:is|are|was|were|=|:)?\s*({NUMBER})",
        ]
    found = {m[1] for p in patterns for m in re.finditer(p, answer, re.I)}
    if len(found) != 1:
        return None  # not named, or named with two different numbers
    digits = found.pop()
    return Value(literal_value(digits), digits, key)


def _is_var(element: Element) -> bool:
    return len(element.tokens) == 1 and element.tokens[0].kind == "var"


def _text(text: str, element: Element) -> str:
    return text[element.start : element.end]


class Equations(Check):
    name = "equations"

    def run(self, trace: Trace) -> CheckResult:
        result = CheckResult()
        question, reasoning = normalize(trace.question), normalize(trace.reasoning)
        posed = [eq for eq in _all_equations(question.text) if not _is_assignment(eq)]
        values = answer_values(trace.answer, bindings(f"{trace.question}\n{trace.reasoning}"))
        unknowns = sorted({s for eq in posed for s in eq.left.symbols | eq.right.symbols})
        if not values and len(unknowns) == 1:
            values = _lone_value(trace, unknowns[0])
            if not values and (stray := self._no_value_solves(trace, posed, unknowns[0])) is not None:
                return CheckResult([stray])
        if not values:
            return result
        shown = ", ".join(f"{var} = {v.text}" for var, v in sorted(values.items()))
        subs = {sympy.Symbol(var): v.value for var, v in values.items()}
        rounded = any(decimals(v.text) >= 2 for v in values.values())
        checked = [("question", trace.question, question, eq) for eq in posed if _symbols(eq) <= set(values)]
        checked += [("reasoning", trace.reasoning, reasoning, eq) for eq in _equations(reasoning.text, values)]
        holds = {"question": 0, "reasoning": 0}
        numbers: list[sympy.Expr] = []
        for field_name, original, norm, equation in checked:
            left, right = equation.left.value.subs(subs), equation.right.value.subs(subs)
            if not (left.is_number and right.is_number):
                continue
            residual = sympy.Abs(left - right)
            if residual == 0 or (rounded and residual <= ROUNDED_REL * max(abs(left), abs(right))):
                result.verified += residual == 0
                holds[field_name] += 1
                numbers += constants(equation)
                continue
            start, end = norm.span(equation.left.start, equation.right.end)
            stated = " ".join(original[start:end].split())
            sides = f"with {shown} the left side comes to {fmt(left)} and the right side to {fmt(right)}"
            where = "the question" if field_name == "question" else "the reasoning"
            message = f"The answer's values ({shown}) do not satisfy {stated} from {where}: {sides}"
            span = Span(field=field_name, start=start, end=end)  # type: ignore[arg-type]
            result.findings.append(self.finding("error", message, span, quote=stated, expected=sides))
        if result.findings:
            return result
        if holds["question"] and _determined(posed, values):
            result.confirms = True
        if holds["question"] + holds["reasoning"] >= len(values):
            result.derived.extend(Derivation(v.value, tuple(numbers)) for v in values.values())
        return result

    def _no_value_solves(self, trace: Trace, posed: list[Equation], var: str) -> Finding | None:
        """An error when the answer gives values but not firmly, and none of them solves the
        question's equation in its one unknown ("5. 9." for 4x + 6 = 22)."""
        found = [i for i in items(normalize(trace.answer)) if i.value is not None]
        if not found:
            return None
        symbol = sympy.Symbol(var)
        if any(all(eq.expr.subs(symbol, i.value) == 0 for eq in posed) for i in found):
            return None
        shown = ", ".join(dict.fromkeys(i.raw for i in found))
        stated = " ".join(trace.question[slice(*_question_span(trace.question, posed[0]))].split())
        message = f"None of the answer's values ({shown}) solves {stated} from the question"
        start, end = _question_span(trace.question, posed[0])
        span = Span(field="question", start=start, end=end)
        return self.finding("error", message, span, quote=shown, expected=f"none of them solves {stated}")


def _question_span(question: str, eq: Equation) -> tuple[int, int]:
    return normalize(question).span(eq.left.start, eq.right.end)


def constants(eq: Equation) -> list[sympy.Expr]:
    """The numbers an equation starts from, less the coefficients of its unknowns: in
    `2x + 4y = 94` only 94 (2 and 4 are what a chicken and a rabbit stand on)."""
    found = []
    for side in (eq.left, eq.right):
        tokens = side.tokens
        for i, token in enumerate(tokens):
            coefficient = i + 1 < len(tokens) and tokens[i + 1].kind in ("var", "lp")
            if token.kind == "num" and not coefficient:
                found.append(literal_value(token.text))
    return found


def _symbols(eq: Equation) -> set[str]:
    return eq.left.symbols | eq.right.symbols


def _is_assignment(eq: Equation) -> bool:
    return (_is_var(eq.left) and eq.right.literal) or (_is_var(eq.right) and eq.left.literal)


def _all_equations(text: str) -> list[Equation]:
    """Every stated equation with an unknown in it."""
    return [
        Equation(left, right)
        for chain in find_chains(text)
        for left, right in zip(chain.elements, chain.elements[1:], strict=False)
        if left.symbols | right.symbols
    ]


def _lone_value(trace: Trace, var: str) -> dict[str, Value]:
    """A question with one unknown whose answer gives one value firmly ("x = 5" or just "5")."""
    statement = read(trace.answer, asked(trace.question), conclusion=False)
    if statement is None or not statement.firm or len(statement.values) != 1:
        return {}
    item = statement.values[0]
    if item.value is None:
        return {}
    return {var: Value(item.value, item.raw, var)}


def _determined(posed: list[Equation], values: dict[str, Value]) -> bool:
    """Whether the question's equations have exactly the answer's values as their solution."""
    symbols = [sympy.Symbol(var) for var in values]
    if {s.name for eq in posed for s in map(sympy.Symbol, _symbols(eq))} != set(values):
        return False
    try:
        solutions = sympy.solve([eq.expr for eq in posed], symbols, dict=True)
    except (NotImplementedError, ValueError):
        return False
    return len(solutions) == 1 and all(solutions[0].get(sympy.Symbol(var)) == v.value for var, v in values.items())


def _equations(text: str, values: dict[str, Value]) -> list[Equation]:
    """The reasoning's equations over the answer's unknowns, minus the ones it abandoned:
    restated later with a different right side, called wrong, or tried on a guess."""
    found: list[Equation] = []
    assignments: list[tuple[int, str, sympy.Expr]] = []
    for chain in find_chains(text):
        for left, right in zip(chain.elements, chain.elements[1:], strict=False):
            symbols = left.symbols | right.symbols
            if not symbols:
                continue
            if _is_var(left) and right.literal:
                assignments.append((left.start, left.tokens[0].text, right.value))
            elif _is_var(right) and left.literal:
                assignments.append((right.start, right.tokens[0].text, left.value))
            elif symbols <= set(values) and not retracted(text[right.end :]):
                found.append(Equation(left, right))
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    found = [eq for eq in found if not _on_a_guess(eq, ends, assignments, values)]
    # "x + y = 30 … wait, 35 heads: x + y = 35" keeps only the restatement.
    final_right = {_key(text, eq.left): _key(text, eq.right) for eq in found}
    return [eq for eq in found if final_right[_key(text, eq.left)] == _key(text, eq.right)]


def _key(text: str, element: Element) -> str:
    return "".join(_text(text, element).split())


def _on_a_guess(
    eq: Equation, sentence_ends: list[int], assignments: list[tuple[int, str, sympy.Expr]], values: dict[str, Value]
) -> bool:
    """Whether the equation sits next to `x = 20` for an x the answer says is something else
    ("if x = 20, then 2x + 4y = 100"): it was evaluated on a guess, not stated as a constraint."""
    before = [end for end in sentence_ends if end <= eq.left.start]
    window_start = before[-2] if len(before) >= 2 else 0
    after = [end for end in sentence_ends if end > eq.right.end]
    window_end = after[0] if after else eq.right.end + 1
    symbols = eq.left.symbols | eq.right.symbols
    return any(
        window_start <= pos < window_end and var in symbols and value != values[var].value
        for pos, var, value in assignments
    )
