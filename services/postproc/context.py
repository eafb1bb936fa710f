"""What every post-processing job gets from its worker: resources created once at start-up.

RQ calls job functions by import path, so the worker makes its context current while a job
runs, and the job function asks for it (as the inference worker does).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from services.postproc.exceptions import NoWorkerContext
from services.store.jobs import JobStore
from shared.settings import Settings


@dataclass
class PostprocContext:
    store: JobStore
    settings: Settings


_current: ContextVar[PostprocContext] = ContextVar("postproc_context")


@contextmanager
def use_context(context: PostprocContext) -> Iterator[None]:
    token = _current.set(context)
    try:
        yield
    finally:
        _current.reset(token)


def current_context() -> PostprocContext:
    try:
        return _current.get()
    except LookupError:
        raise NoWorkerContext("post-processing jobs run only inside `thinkstream postproc`") from None
