"""The question set: word problems with exact gold answers, one JSON object per line.

    {"id": "en-cage", "lang": "en", "question": "…", "gold": ["23", "12"], "note": "chickens, rabbits"}

`gold` is always a list of strings, read one of three ways (`Question.kind`):
- `numbers` (the default): each a whole number, a decimal, a fraction (`5/12`) or a clock time
  (`11:20`). The answer must give every one of them, in any order; `note` says what each one is.
- `yesno`: `["yes"]` or `["no"]`. A Chinese answer may say 是 or 否.
- `choice`: `choices` lists the candidates (names) and `gold` holds the right one.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from services.evaluation.exceptions import QuestionFileError

DEFAULT_QUESTIONS = Path(__file__).resolve().parents[2] / "eval" / "ladder.jsonl"
"""The ladder (`eval/make_ladder.py`); `eval/questions.jsonl` holds 44 harder word problems."""

Kind = Literal["numbers", "yesno", "choice"]
GOLD_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:/\d+)?|\d{1,2}:\d{2}")
YES_NO = (["yes"], ["no"])


class Question(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, Field(min_length=1)]
    lang: Literal["en", "zh"]
    question: Annotated[str, Field(min_length=1)]
    gold: Annotated[list[str], Field(min_length=1)]
    note: str | None = None
    """What each gold value means, when there are several."""
    choices: list[str] | None = None
    rung: str | None = None
    """The ladder's difficulty step (`1-one-step` … `4-multi-step`); accuracy is reported per rung."""
    unordered: bool = False
    """Several gold values that may come in any order ("the two numbers are …")."""

    @property
    def kind(self) -> Kind:
        if self.choices is not None:
            return "choice"
        return "yesno" if self.gold in YES_NO else "numbers"

    @model_validator(mode="after")
    def _gold_readable(self) -> Question:
        if self.choices is not None:
            if len(self.gold) != 1 or self.gold[0] not in self.choices:
                raise ValueError("a choice question needs exactly one gold value, one of its 'choices'")
        elif self.gold not in YES_NO:
            for value in self.gold:
                if not GOLD_NUMBER.fullmatch(value):
                    raise ValueError(f"gold value {value!r} is not a number, a fraction a/b or a time h:mm")
        return self


def load_questions(path: Path) -> list[Question]:
    """Every question in a JSONL file, in file order. Blank lines are skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise QuestionFileError(f"no such question file: {path}") from None
    questions: list[Question] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            question = Question.model_validate(json.loads(line))
        except (json.JSONDecodeError, ValidationError) as exc:
            raise QuestionFileError(f"{path}: line {number}: {exc}") from None
        if question.id in seen:
            raise QuestionFileError(f"{path}: line {number}: duplicate id {question.id!r}")
        seen.add(question.id)
        questions.append(question)
    if not questions:
        raise QuestionFileError(f"{path}: no questions")
    return questions
