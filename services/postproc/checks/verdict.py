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
- `unsure`: neither. Most word problems whose reasoning states no checkable computation end here.

A verified side computation next to an unverified final answer is not a pass.
"""

from __future__ import annotations

from collections.abc import Iterable

import sympy

from services.postproc.checks.base import CheckResult, Derivation
from shared.schemas import Finding, Verdict


def _same(a: sympy.Expr, b: sympy.Expr) -> bool:
    return bool(a.is_number and b.is_number and sympy.simplify(a - b) == 0)


def grounded(derivations: list[Derivation], given: Iterable[sympy.Expr]) -> list[sympy.Expr]:
    """The values derived from the question's numbers, directly or through such values written
    before them: in reading order, a derivation counts when each number it starts from is given
    or the value of a counted derivation written earlier."""
    known = [g for g in given if g is not None]
    found: list[sympy.Expr] = []
    earlier: list[tuple[tuple[int, int], sympy.Expr]] = []
    for d in sorted(derivations, key=lambda d: d.at):
        usable = known + [value for at, value in earlier if at < d.at]
        if d.operands and all(any(_same(o, k) for k in usable) for o in d.operands):
            earlier.append((d.at, d.value))
            found.append(d.value)
    return found


def decide(results: Iterable[CheckResult], given: Iterable[sympy.Expr] = ()) -> tuple[Verdict, list[Finding]]:
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
    derived = grounded([d for r in results for d in r.derived], given)
    if agreed and all(value is not None and any(_same(value, d) for d in derived) for value in agreed):
        return "pass", findings
    return "unsure", findings
