"""Automatic correction: a failed answer goes back to the model with its reasoning and the
findings, as a new round of the same job (the stream shows it), up to the job's `revise`."""

from __future__ import annotations

from services.store.jobs import JobRecord, JobStore
from shared.schemas import ChatMessage, CheckReport, JobSpec

MAX_REASONING_CHARS = 3000
"""Only the end of a long reasoning is shown back: the context window is small."""


def feedback(reasoning: str, report: CheckReport) -> str:
    problems = "\n".join(f"- {f.message}" for f in report.findings if f.severity == "error")
    shown = reasoning if len(reasoning) <= MAX_REASONING_CHARS else "…" + reasoning[-MAX_REASONING_CHARS:]
    return (
        "Your answer above was checked automatically and these problems were found:\n"
        f"{problems}\n\nYour reasoning was:\n{shown}\n\n"
        "Find the mistake, work the problem again carefully, and give the corrected final answer."
    )


def revision_spec(original: JobSpec, answer: str, reasoning: str, report: CheckReport, round_: int) -> JobSpec:
    """The original conversation, the failed answer, and a user turn with the findings."""
    messages = [
        *original.messages,
        ChatMessage(role="assistant", content=answer or "(no answer)"),
        ChatMessage(role="user", content=feedback(reasoning, report)),
    ]
    return original.model_copy(update={"messages": messages, "round": round_, "conversation": None})


def start_revision(
    store: JobStore, record: JobRecord, run: int, answer: str, reasoning: str, report: CheckReport
) -> int:
    """Queue the next round of the job (`store.revise`: at the front of the queue it came from);
    returns its number. The original request is kept in the job hash as `original`."""
    round_ = record.spec.round + 1
    spec = revision_spec(record.original, answer, reasoning, report, round_)
    errors = [f for f in report.findings if f.severity == "error"]
    store.revise(record.job_id, run, spec, record.original, errors)
    return round_
