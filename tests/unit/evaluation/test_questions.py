from __future__ import annotations

import importlib.util
import json
from collections import Counter
from pathlib import Path

import pytest

from services.evaluation.exceptions import QuestionFileError
from services.evaluation.questions import DEFAULT_QUESTIONS, Question, load_questions
from services.evaluation.scoring import score
from services.evaluation.verifier import extract

SHIPPED = load_questions(DEFAULT_QUESTIONS)
WORD_PROBLEMS = load_questions(DEFAULT_QUESTIONS.parent / "questions.jsonl")
FRESH_FILE = DEFAULT_QUESTIONS.parent / "fresh_questions.jsonl"
FRESH = load_questions(FRESH_FILE)
FRESH2_FILE = DEFAULT_QUESTIONS.parent / "fresh2_questions.jsonl"
FRESH2 = load_questions(FRESH2_FILE)
FRESH3_FILE = DEFAULT_QUESTIONS.parent / "fresh3_questions.jsonl"
FRESH3 = load_questions(FRESH3_FILE)
EVERY = SHIPPED + WORD_PROBLEMS + FRESH + FRESH2 + FRESH3


def test_questions_shipped_set_is_bilingual_and_large_enough() -> None:
    langs = Counter(q.lang for q in SHIPPED)
    assert len(SHIPPED) >= 30
    assert langs["en"] >= 15 and langs["zh"] >= 15
    assert len({q.id for q in SHIPPED}) == len(SHIPPED)
    assert {q.kind for q in SHIPPED} == {"numbers", "yesno", "choice"}


def test_questions_ladder_has_four_rungs_half_english_half_chinese() -> None:
    rungs = Counter((q.rung, q.lang) for q in SHIPPED)
    assert len(SHIPPED) >= 120
    assert {rung for rung, _ in rungs} == {"1-one-step", "2-two-step", "3-one-equation", "4-multi-step"}
    assert len(set(rungs.values())) == 1  # as many per rung and language


def test_questions_ladder_file_is_what_its_script_writes() -> None:
    # The gold values are computed by eval/make_ladder.py, never typed: the file must be its output.
    spec = importlib.util.spec_from_file_location("make_ladder", DEFAULT_QUESTIONS.parent / "make_ladder.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    written = [json.loads(line) for line in DEFAULT_QUESTIONS.read_text(encoding="utf-8").splitlines()]
    assert written == module.ladder()


def test_questions_fresh_file_is_what_its_script_writes() -> None:
    # The fresh held-out questions' gold values are computed from each written solution.
    spec = importlib.util.spec_from_file_location("make_fresh", FRESH_FILE.parent / "make_fresh.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    written = [json.loads(line) for line in FRESH_FILE.read_text(encoding="utf-8").splitlines()]
    assert written == module.fresh()
    assert Counter(q.lang for q in FRESH) == {"en": 64, "zh": 64}


def test_questions_fresh2_file_is_what_its_script_writes() -> None:
    # The second fresh set, kept unseen for the next measurement: the file is its script's output.
    spec = importlib.util.spec_from_file_location("make_fresh2", FRESH2_FILE.parent / "make_fresh2.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    written = [json.loads(line) for line in FRESH2_FILE.read_text(encoding="utf-8").splitlines()]
    assert written == module.fresh2()
    assert Counter(q.lang for q in FRESH2) == {"en": 64, "zh": 64}
    assert not {q.question for q in FRESH2} & {q.question for q in FRESH}


def test_questions_fresh3_file_is_what_its_script_writes() -> None:
    # The third fresh set (one-step arithmetic, where the embedded model earns passes).
    spec = importlib.util.spec_from_file_location("make_fresh3", FRESH3_FILE.parent / "make_fresh3.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    written = [json.loads(line) for line in FRESH3_FILE.read_text(encoding="utf-8").splitlines()]
    assert written == module.fresh3()
    assert Counter(q.lang for q in FRESH3) == {"en": 48, "zh": 48}
    assert len({q.question for q in FRESH3}) == 96
    ladder_and_fresh = {q.question for q in SHIPPED + FRESH + FRESH2}
    assert not {q.question for q in FRESH3} & ladder_and_fresh
    assert module.chinese(105) == "一百零五" and module.chinese(110) == "一百一十" and module.chinese(37) == "三十七"


def test_questions_shipped_set_alternates_languages_so_a_limit_gets_both() -> None:
    assert {q.lang for q in SHIPPED[:2]} == {"en", "zh"}


@pytest.mark.parametrize("question", EVERY, ids=lambda q: q.id)
def test_questions_gold_reads_as_exactly_one_value_each(question: Question) -> None:
    if question.kind == "numbers":
        assert all(extract(gold) == gold for gold in question.gold if ":" not in gold)  # clock times: as written


@pytest.mark.parametrize("question", EVERY, ids=lambda q: q.id)
def test_questions_gold_written_as_an_answer_scores_right(question: Question) -> None:
    if question.kind == "yesno":
        answer = {"en": {"yes": "Yes.", "no": "No."}, "zh": {"yes": "是。", "no": "否。"}}[question.lang][
            question.gold[0]
        ]
    else:
        answer = "The answer is " + " and ".join(question.gold) + "."
    assert score(question, answer).correct


@pytest.mark.parametrize("question", EVERY, ids=lambda q: q.id)
def test_questions_echoed_back_score_wrong(question: Question) -> None:
    # Small models often repeat the question; a gold value the question gives, or a yes/no or
    # name it mentions first, would score that echo as right.
    assert not score(question, question.question).correct


def write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "q.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


GOOD = '{"id": "a", "lang": "en", "question": "1 + 1?", "gold": ["2"]}'


def test_load_questions_skips_blank_lines(tmp_path: Path) -> None:
    assert [q.id for q in load_questions(write(tmp_path, GOOD, "", ""))] == ["a"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        pytest.param(GOOD, "duplicate id 'a'", id="duplicate-id"),
        pytest.param("{not json", "line 2", id="not-json"),
        pytest.param('{"id": "b", "lang": "fr", "question": "?", "gold": ["1"]}', "line 2", id="unknown-language"),
        pytest.param('{"id": "b", "lang": "en", "question": "?", "gold": []}', "line 2", id="no-gold"),
        pytest.param(
            '{"id": "b", "lang": "en", "question": "?", "gold": ["about 3"]}', "not a number", id="vague-gold"
        ),
        pytest.param(
            '{"id": "b", "lang": "en", "question": "?", "gold": ["Zed"], "choices": ["Ann", "Bo"]}',
            "one of its 'choices'",
            id="gold-not-a-choice",
        ),
    ],
)
def test_load_questions_names_the_bad_line(tmp_path: Path, line: str, message: str) -> None:
    with pytest.raises(QuestionFileError, match=message):
        load_questions(write(tmp_path, GOOD, line))


def test_load_questions_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(QuestionFileError, match="no such question file"):
        load_questions(tmp_path / "nope.jsonl")
