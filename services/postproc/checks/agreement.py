"""Agreement: the answer states what the reasoning concluded.

Both sides are read the same way (`reading.py`): values (several, with units, 7/8 = 0.875 =
87.5%, Chinese numerals), an option the question offers, or yes/no. The reasoning's conclusion
counts only when a box or a marker states it ("the answer is", "so", 所以, 答案是); a value the
question itself gives is never demanded of the answer.

An answer that contradicts the conclusion is an error pointing at both: the answer's statement
(`span`) and the reasoning's (`related_span`). An answer whose final value is only a guess (several
unmarked values) is never failed on it: it is simply not confirmed.
"""

from __future__ import annotations

from services.postproc.checks.base import Check, CheckResult, Trace
from services.postproc.checks.reading import Item, Statement, asked, read
from shared.schemas import Span


def _span(field_name: str, statement: Statement) -> Span:
    return Span(field=field_name, start=statement.start, end=statement.end)  # type: ignore[arg-type]


class Agreement(Check):
    name = "agreement"

    def run(self, trace: Trace) -> CheckResult:
        ask = asked(trace.question)
        answered = read(trace.answer, ask, conclusion=False)
        concluded = read(trace.reasoning, ask, conclusion=True)
        if answered is None or concluded is None:
            return CheckResult()
        if ask.kind == "values" and not ask.several:
            return self._value(answered, concluded)
        if ask.kind == "values":
            return self._values(answered, concluded, ask.given)
        if answered.kind == concluded.kind and (answered.option, answered.yes) == (concluded.option, concluded.yes):
            return CheckResult(verified=1, agreed=[])
        return self._contradiction(answered, concluded) if answered.firm else CheckResult()

    def _value(self, answered: Statement, concluded: Statement) -> CheckResult:
        """One value asked for: the answer's final value against the reasoning's (any of them,
        when the conclusion states more than was asked: "23 chickens and 12 rabbits")."""
        said = answered.values[-1]
        if any(said.same(meant) for meant in concluded.values):
            return CheckResult(verified=1, agreed=[said.value])
        return self._contradiction(answered, concluded) if answered.firm and concluded.firm else CheckResult()

    def _values(self, answered: Statement, concluded: Statement, given: tuple[Item, ...]) -> CheckResult:
        missing = [c for c in concluded.values if not any(c.same(a) for a in answered.values)]
        extra = [
            a
            for a in answered.values
            if not any(a.same(c) for c in concluded.values) and not any(a.same(g) for g in given)
        ]
        if not missing and not extra:
            return CheckResult(verified=len(concluded.values), agreed=[c.value for c in concluded.values])
        if not missing or not extra or not answered.firm or not concluded.firm:
            return CheckResult()  # leaves something out, or cannot be read for sure: contradicts nothing
        return self._contradiction(answered, concluded, extra)

    def _contradiction(self, answered: Statement, concluded: Statement, wrong: list[Item] | None = None) -> CheckResult:
        """An error on the answer's differing values (`wrong`, else its whole statement), with the
        reasoning's conclusion as the related span."""
        start, end = answered.span_of(wrong or [])
        said = " ".join(answered.text[start:end].split()) if wrong else answered.shown()
        meant = concluded.shown()
        message = f"The answer says {said} but the reasoning concluded {meant}"
        finding = self.finding(
            "error",
            message,
            Span(field="answer", start=start, end=end),
            related_span=_span("reasoning", concluded),
            quote=said,
            expected=meant,
        )
        return CheckResult([finding])
