"""Logging for every thinkstream process: one line per record, JSON or text, stamped with the
job and the worker it was logged for.

Workers wrap each job in `job_logging(job_id)`, so every line logged while the job runs (ours and
RQ's) carries `job_id`, and a log store can follow one job through the inference worker and the
post-processing worker.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Literal, TextIO

from pythonjsonlogger.json import JsonFormatter

LogFormat = Literal["auto", "json", "text"]
CONTEXT_FIELDS = ("job_id", "worker")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s%(tags)s %(message)s"
ACCESS_LOGGER = "uvicorn.access"

_job_id: ContextVar[str | None] = ContextVar("log_job_id", default=None)
_worker: ContextVar[str | None] = ContextVar("log_worker", default=None)


class ContextFilter(logging.Filter):
    """Adds `job_id` and `worker` to every record (`None` outside a job or a worker)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.job_id = _job_id.get()
        record.worker = _worker.get()
        return True


class AccessFields(logging.Filter):
    """Gives uvicorn's access lines their parts as fields, so a log store can filter on them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == ACCESS_LOGGER and isinstance(record.args, tuple) and len(record.args) == 5:
            client, method, path, _http_version, status = record.args
            record.client, record.method, record.path, record.status = client, method, path, status
        return True


class TextFormatter(logging.Formatter):
    """For people at a terminal: the usual line, with `[job_id=… worker=…]` when there are any."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        tags = " ".join(f"{name}={value}" for name in CONTEXT_FIELDS if (value := getattr(record, name, None)))
        record.tags = f" [{tags}]" if tags else ""
        return super().format(record)


def json_formatter() -> logging.Formatter:
    """One JSON object per line: `level`, `logger`, `message`, `job_id`, `worker`, `time` (UTC,
    ISO 8601), any `extra=` fields, and `exc_info` with the traceback."""
    return JsonFormatter(
        ["levelname", "name", "message"], rename_fields={"levelname": "level", "name": "logger"}, timestamp="time"
    )


def resolve_format(log_format: LogFormat, stream: TextIO) -> Literal["json", "text"]:
    """`auto` is text when a person is watching (a terminal), JSON otherwise (a container, a file)."""
    if log_format == "auto":
        return "text" if stream.isatty() else "json"
    return log_format


def configure_logging(level: str, log_format: LogFormat, stream: TextIO | None = None) -> None:
    """Send every logger's records, stamped with their job, to one handler on `stream` (stderr)."""
    out = stream if stream is not None else sys.stderr
    handler = logging.StreamHandler(out)
    handler.addFilter(ContextFilter())
    handler.addFilter(AccessFields())
    handler.setFormatter(json_formatter() if resolve_format(log_format, out) == "json" else TextFormatter())
    root = logging.getLogger()
    for old in root.handlers:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())


@contextmanager
def job_logging(job_id: str, *, worker: str | None = None) -> Iterator[None]:
    """Stamp every line logged in this block (in this thread or task) with `job_id`, and with
    `worker` when given."""
    job_token = _job_id.set(job_id)
    worker_token = _worker.set(worker) if worker is not None else None
    try:
        yield
    finally:
        if worker_token is not None:
            _worker.reset(worker_token)
        _job_id.reset(job_token)


@contextmanager
def worker_logging(worker: str) -> Iterator[None]:
    """Stamp every line logged in this block with `worker`: wrap a worker's whole run in it."""
    token = _worker.set(worker)
    try:
        yield
    finally:
        _worker.reset(token)
