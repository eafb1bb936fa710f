"""Rebuild a `thinkstream eval` result for one mode from the jobs a stack still holds.

`thinkstream eval` writes its JSON when a mode is finished. When a long mode has to be cut short
(the ladder's `both` mode is ~13 generations per question), the jobs it finished are still in
Redis: this reads every top-level job created since `--since` whose request carries the mode's
fields, matches it to its question by the prompt, reads its final view from the gateway and
scores it exactly as the harness does. Only finished jobs count; the questions they cover are
said in the output (`modes[0].records`).

    .venv/bin/python -m eval.recover_run --url URL --redis-url redis://127.0.0.1:PORT \\
        --since 2026-11-30T12:38:38 --mode both -o eval/figures/ladder-both.json
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

import httpx
from redis import Redis

from services.evaluation.harness import _record
from services.evaluation.modes import build_modes
from services.evaluation.questions import DEFAULT_QUESTIONS, load_questions
from services.evaluation.report import write_json
from services.evaluation.results import EvalRun, ModeResult, summarize
from shared import keys
from shared.schemas import JobSpec, JobView


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--since", required=True, help="ISO time (UTC): jobs created before it are ignored")
    parser.add_argument("--mode", default="both")
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--revise", type=int, default=2)
    parser.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS)
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args()

    fields = build_modes([args.mode], samples=args.samples, revise=args.revise)[args.mode]
    since = datetime.fromisoformat(args.since).replace(tzinfo=UTC).timestamp()
    questions = load_questions(args.questions)
    by_text = {q.question: q for q in questions}
    order = {q.id: i for i, q in enumerate(questions)}
    redis = Redis.from_url(args.redis_url)
    records = {}
    request: dict[str, object] = {}
    with httpx.Client(base_url=args.url, timeout=30) as client:
        for raw_key in redis.scan_iter(match=keys.job_key("*"), count=1000):
            key = raw_key.decode()
            if key.endswith(":events") or redis.type(key) != b"hash":
                continue
            raw = redis.hget(key, "original") or redis.hget(key, "spec")
            if raw is None:
                continue
            spec = JobSpec.model_validate_json(raw)
            wanted = spec.samples == fields.get("samples", 1) and spec.revise == fields.get("revise", 0)
            if spec.parent is not None or spec.created_at < since or not wanted:
                continue
            question = by_text.get(spec.messages[-1].content)
            if question is None:
                continue
            view = JobView.model_validate_json(client.get(f"/v1/jobs/{spec.job_id}").content)
            if not view.status.is_final:
                continue
            records[question.id] = _record(question, view)
            request = {"max_tokens": spec.max_tokens, "max_reasoning_tokens": spec.max_reasoning_tokens}
    ordered = sorted(records.values(), key=lambda r: order[r.id])
    mode = ModeResult(name=args.mode, fields=fields, records=ordered, summary=summarize(ordered))
    run = EvalRun(
        url=args.url,
        questions_file=str(args.questions),
        started_at=datetime.fromtimestamp(since, UTC).isoformat(timespec="seconds"),
        duration_s=0.0,
        concurrency=0,
        request=request,
        modes=[mode],
    )
    write_json(run, args.output)
    print(f"{len(ordered)} finished jobs of mode {args.mode}: {', '.join(r.id for r in ordered)}")


if __name__ == "__main__":
    main()
