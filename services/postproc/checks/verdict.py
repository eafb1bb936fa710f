"""What a verdict promises, decided from every check's result.

- `fail`: some check found an error (a wrong computation, an answer that contradicts the
  reasoning's conclusion or the question's own expression, unsatisfied equations, no answer, a
  cut-off answer, a loop).
- `pass`: no error, and the final answer itself is verified: either the question's own
  expression or equations give exactly the answer's values, or the answer's values are the ones
  the reasoning concluded and each of them is the result of a computation or equation system
  that checks out and is grounded: it computes from the question's numbers, or from values
  grounded that way by a step written before it ("7 - 4 = 3" for "had 7 after getting 4"; not
  "2 + 4 = 6" with a 2 from nowhere, nor "40 × 100 = 4000" with 100 cents a dollar: knowledge
  the question does not state grounds nothing, since nothing checks it was the right knowledge).
  And the chain of such steps that produces the answer uses every number the question gives
  (labels aside: years, item numbers; `givens.py`): "4 + 4 = 8" for "Kim is 4 years older than
  her brother; their ages add up to 30" is right arithmetic on a setup that leaves 30 out.
- `unsure`: neither. Most word problems whose reasoning states no checkable computation end here.

A verified side computation next to an unverified final answer is not a pass. A pass does not
promise the setup is right: a chain may use every number and still combine them wrongly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import sympy

from services.postproc.checks.base import CheckResult, Derivation
from services.postproc.checks.givens import Given
from shared.schemas import Finding, Verdict


def _same(a: sympy.Expr, b: sympy.Expr) -> bool:
    return bool(a.is_number and b.is_number and sympy.simplify(a - b) == 0)


@dataclass(frozen=True)
class Grounded:
    value: sympy.Expr
    uses: frozenset[int]
    """Which of the question's numbers (indices into the givens) the chain behind it starts from."""


def grounded(derivations: list[Derivation], given: Sequence[Given]) -> list[Grounded]:
    """The values derived from the question's numbers, directly or through such values written
    before them: in reading order, a derivation counts when each number it starts from is given
    or the value of a counted derivation written earlier. An operand that matches several of
    those (a given 8 and an earlier 4 + 4 = 8) is credited with all of them."""
    known = [(form, frozenset([i])) for i, g in enumerate(given) for form in g.forms]
    found: list[Grounded] = []
    earlier: list[tuple[tuple[int, int], Grounded]] = []
    for d in sorted(derivations, key=lambda d: d.at):
        usable = known + [(g.value, g.uses) for at, g in earlier if at < d.at]
        uses: set[int] = set()
        for operand in d.operands:
            matches = [u for value, u in usable if _same(operand, value)]
            if not matches:
                break
            uses.update(*matches)
        else:
            if d.operands:
                g = Grounded(d.value, frozenset(uses))
                earlier.append((d.at, g))
                found.append(g)
    return found


def decide(results: Iterable[CheckResult], given: Sequence[Given] = ()) -> tuple[Verdict, list[Finding]]:
    """The verdict and all findings; `given` are the numbers the question states."""
    results = list(results)
    findings = [f for r in results for f in r.findings]
    if any(f.severity == "error" for f in findings):
        return "fail", findings
    if any(r.confirms for r in results):
        return "pass", findings
    if any(r.required for r in results):
        return "unsure", findings
    agreed = next((r.agreed for r in results if r.agreed is not None), None)
    if not agreed:
        return "unsure", findings
    derived = grounded([d for r in results for d in r.derived], given)
    chains = [[g for g in derived if value is not None and _same(value, g.value)] for value in agreed]
    if not all(chains):
        return "unsure", findings
    used = frozenset().union(*(g.uses for chain in chains for g in chain))
    if all(i in used for i, g in enumerate(given) if not g.label):
        return "pass", findings
    return "unsure", findings  # right arithmetic that leaves a number of the question out


__all__ = ["Grounded", "decide", "grounded"]
