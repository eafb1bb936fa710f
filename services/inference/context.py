"""What every inference job gets from its worker: resources created once at start-up.

RQ calls job functions by import path, so the worker makes its context current while a job
runs (as RQ does for `get_current_job()`), and the job function asks for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from redis import Redis

from services.engine.model import ModelInfo
from services.inference.engine import Engine
from services.inference.exceptions import NoWorkerContext
from services.runtime.load import LoadMeter
from services.store.jobs import JobStore
from shared.settings import Settings

_DEFAULT_WINDOW_S: float = Settings.model_fields["status_sample_interval_s"].default


@dataclass
class InferenceContext:
    redis: Redis
    engine: Engine
    model: ModelInfo
    settings: Settings
    worker_id: str
    store: JobStore
    load: LoadMeter = field(default_factory=lambda: LoadMeter(window_s=_DEFAULT_WINDOW_S))
    """Its slots and the tokens its jobs send; its heartbeat reports them. (`run_worker` gives it
    one measuring over the settings' window; the default serves contexts tests build.)"""
    first_text_sent: Callable[[], None] = lambda: None
    """Called by a job once it has sent its first text: its worker's own bookkeeping waits for
    it, to stay off the cores while the prompt is evaluated (`InferenceWorker`)."""


_current: ContextVar[InferenceContext] = ContextVar("inference_context")


@contextmanager
def use_context(context: InferenceContext) -> Iterator[None]:
    token = _current.set(context)
    try:
        yield
    finally:
        _current.reset(token)


def current_context() -> InferenceContext:
    try:
        return _current.get()
    except LookupError:
        raise NoWorkerContext("inference jobs run only inside `thinkstream worker`") from None
