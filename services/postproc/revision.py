"""Automatic correction: a failed answer goes back to the model with its reasoning and the
findings, as a new round of the same job (the stream shows it), up to the job's `revise`."""

from __future__ import annotations

from services.postproc.feedback import feedback
from services.store.jobs import JobStore
from services.store.records import JobRecord
from shared.schemas import ChatMessage, CheckReport, JobSpec


def revision_spec(original: JobSpec, answer: str, reasoning: str, report: CheckReport, round_: int) -> JobSpec:
    """The original conversation, the failed answer, and a user turn with the findings."""
    messages = [
        *original.messages,
        ChatMessage(role="assistant", content=answer or "(no answer)"),
        ChatMessage(role="user", content=feedback(original.messages[-1].content, answer, reasoning, report)),
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
