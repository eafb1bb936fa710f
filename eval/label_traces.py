"""Label real traces against gold with math-verify, apply the hand reviews, and split them.

Reads what `eval/collect_traces.py` wrote, scores each answer with `services.evaluation.scoring`
(math-verify, independent of the checks) and writes eval/real_traces.jsonl with three more fields:

- `label_auto`: "right" / "wrong" as math-verify read the answer;
- `label`: the same, unless a hand review in eval/real_reviews.jsonl says otherwise
  (`{"id", "label", "note"}`; every trace where the label and the checks disagree was read);
- `split`: "held-out" for about a third of the traces, chosen by a hash of the trace id
  (sha256(id) mod 3 == 0), else "tuning". The split depends on nothing but the id, so it was
  fixed before any check was tuned and cannot drift. With `--split NAME` every trace gets that
  split instead: the fresh held-out set is one split, all of it unseen.

    .venv/bin/python -m eval.label_traces [--raw /tmp/raw.jsonl] [-o eval/real_traces.jsonl]
    .venv/bin/python -m eval.label_traces --questions eval/fresh_questions.jsonl --split fresh \
        --reviews eval/fresh_reviews.jsonl --raw /tmp/fresh_raw.jsonl -o eval/fresh_traces.jsonl
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

from services.evaluation.questions import DEFAULT_QUESTIONS, Question, load_questions
from services.evaluation.scoring import score

ROOT = Path(__file__).resolve().parent
OUT = ROOT / "real_traces.jsonl"
REVIEWS = ROOT / "real_reviews.jsonl"
HELD_OUT_MODULUS = 3


def split_of(trace_id: str) -> str:
    digest = int(hashlib.sha256(trace_id.encode("utf-8")).hexdigest(), 16)
    return "held-out" if digest % HELD_OUT_MODULUS == 0 else "tuning"


def load_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def label(row: dict, reviews: dict[str, dict], questions: dict[str, Question], split: str | None = None) -> dict:
    question = questions[row["question_id"]]
    assert question.question == row["question"], f"{row['id']}: the questions changed since it was collected"
    result = score(question, row["answer"])
    auto = "right" if result.correct else "wrong"
    review = reviews.get(row["id"])
    out = {
        **{k: v for k, v in row.items() if k not in ("label", "label_auto", "split", "extracted", "review")},
        "extracted": list(result.extracted),
        "label_auto": auto,
        "label": review["label"] if review else auto,
        "split": split or split_of(row["id"]),
    }
    if review:
        out["review"] = review.get("note", "")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, default=OUT, help="collected traces (default: relabel the output)")
    parser.add_argument("-o", "--output", type=Path, default=OUT)
    parser.add_argument(
        "--questions", type=Path, default=DEFAULT_QUESTIONS, help="the questions asked (default: the ladder)"
    )
    parser.add_argument("--reviews", type=Path, default=REVIEWS, help="hand reviews (default: eval/real_reviews.jsonl)")
    parser.add_argument("--split", help="give every trace this split instead of the hash split")
    args = parser.parse_args()
    reviews = {r["id"]: r for r in load_jsonl(args.reviews)}
    questions = {q.id: q for q in load_questions(args.questions)}
    rows = [label(row, reviews, questions, args.split) for row in load_jsonl(args.raw)]
    rows.sort(key=lambda r: r["id"])
    args.output.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    counts: dict[tuple[str, str], int] = {}
    for r in rows:
        counts[(r["split"], r["label"])] = counts.get((r["split"], r["label"]), 0) + 1
    print(
        f"wrote {len(rows)} traces to {args.output}: "
        + ", ".join(f"{k[0]}/{k[1]} {n}" for k, n in sorted(counts.items()))
    )


if __name__ == "__main__":
    main()
