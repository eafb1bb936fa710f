"""The revision prompt: tell the model which step is wrong and what the checked value is.

Small models asked to "check again" mostly make things worse; told "in step 2 you wrote
12 + 30 = 32, but 12 + 30 = 42" they often fix the step. So each error finding becomes one
line that names the step (the reasoning's own "Step 2" / "第2步" / "2." label, else the count
of its non-empty lines), quotes what the model wrote and gives the checked value, in the
language of the question (English or Chinese).

A pure function of its inputs: no Redis, no settings.
"""

from __future__ import annotations

import re
from typing import Literal

from shared.schemas import CheckReport, Finding

MAX_REASONING_CHARS = 3000
"""Only the end of a long reasoning is shown back: the context window is small."""

Language = Literal["en", "zh"]

_CJK = re.compile(r"[\u4e00-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]")
_STEP_LABEL = re.compile(r"^\s*(?:\**\s*)?(?:step\s*(\d+)|第\s*(\d+)\s*步|(\d{1,2})[.)、]\s)", re.IGNORECASE)


def language_of(question: str) -> Language:
    """Chinese when the question has at least as many Han characters as Latin letters / 4 (a
    Chinese question quoting `x + y` is still Chinese)."""
    han, latin = len(_CJK.findall(question)), len(_LATIN.findall(question))
    return "zh" if han and han * 4 >= latin else "en"


def step_of(reasoning: str, position: int) -> int:
    """The step of the reasoning that `position` falls in: its own label when the line has one
    ("Step 3:", "第3步", "3."), else the number of non-empty lines up to and including it."""
    line_start = reasoning.rfind("\n", 0, position) + 1
    line_end = reasoning.find("\n", position)
    line = reasoning[line_start : line_end if line_end >= 0 else len(reasoning)]
    if (m := _STEP_LABEL.match(line)) is not None:
        return int(next(g for g in m.groups() if g))
    return sum(1 for text in reasoning[:line_start].split("\n") if text.strip()) + 1


def _where(finding: Finding, reasoning: str, lang: Language) -> str:
    span = finding.span
    if span is None or span.field != "reasoning":
        if span is not None and span.field == "answer":
            return "In your answer" if lang == "en" else "在你的答案中"
        return ""
    step = step_of(reasoning, span.start)
    return f"In step {step}" if lang == "en" else f"在第{step}步中"


def line_for(finding: Finding, reasoning: str, lang: Language) -> str:
    """One finding as one sentence of the prompt."""
    quote, expected = finding.quote, finding.expected
    if finding.check == "arithmetic" and quote and expected:
        where = _where(finding, reasoning, lang)
        if lang == "en":
            return f"{where} you wrote {quote}, but {expected}."
        return f"{where}你写了 {quote}，但 {expected}。"
    if finding.check == "agreement" and quote and expected:
        if lang == "en":
            return f"Your answer says {quote}, but your reasoning concluded {expected}."
        return f"你的答案是 {quote}，但你的推理得出的是 {expected}。"
    if finding.check == "question" and quote and expected:
        if lang == "en":
            return f"Your answer says {quote}, but the question asks for {expected}."
        return f"你的答案是 {quote}，但题目要求的是 {expected}。"
    if finding.check == "equations" and quote and expected:
        where = _where(finding, reasoning, lang) if finding.span and finding.span.field == "reasoning" else ""
        if lang == "en":
            lead = f"{where} the equation" if where else "The equation"
            return f"{lead} {quote} does not hold for your answer: {expected}."
        lead = f"{where}方程" if where else "方程"
        return f"{lead} {quote} 对你的答案不成立：{expected}。"
    return (
        finding.message if lang == "en" else f"{_ZH_MESSAGES.get(finding.check, '检查发现问题')}（{finding.message}）"
    )


_ZH_MESSAGES = {
    "answer_present": "你在推理之后没有给出答案",
    "not_truncated": "你的答案被截断了",
    "reasoning_closed": "你的推理没有写完",
    "no_repetition": "你的文字在重复",
}


def feedback(question: str, answer: str, reasoning: str, report: CheckReport, lang: Language | None = None) -> str:
    """The user turn that asks for a revision: the errors, located and corrected, the tail of
    the reasoning, and what to do. `lang` defaults to the question's language. `answer` is not
    repeated here: it is the assistant turn just before this one."""
    del answer  # shown to the model as its own previous turn
    lang = lang or language_of(question)
    errors = [f for f in report.findings if f.severity == "error"]
    lines = "\n".join(f"- {line_for(f, reasoning, lang)}" for f in errors)
    shown = reasoning if len(reasoning) <= MAX_REASONING_CHARS else "…" + reasoning[-MAX_REASONING_CHARS:]
    if lang == "zh":
        return (
            f"你上面的答案经过自动检查，发现了以下错误：\n{lines}\n\n"
            f"你的推理是：\n{shown}\n\n"
            "请从出错的那一步开始，用正确的数值重新计算，最后写出“答案是……”。"
        )
    return (
        f"Your answer above was checked automatically and these mistakes were found:\n{lines}\n\n"
        f"Your reasoning was:\n{shown}\n\n"
        'Redo the work from the wrong step on, using the correct value, and end with "The answer is …".'
    )
