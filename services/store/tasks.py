"""The only functions a worker will run, and the job class that enforces it.

RQ imports and calls whatever function a queued job names, so anything that can write to Redis
could otherwise run code in a worker (`os.system` on the checks queue). A worker here runs a job
only if it names one of thinkstream's own task functions, checked before anything is imported,
and it never runs callbacks or sends webhooks. Jobs are serialized as JSON, never pickle: unpickling a forged
entry would run code before any check could look at it.
"""

from __future__ import annotations

import logging
from typing import Any

from rq.job import Job
from rq.serializers import JSONSerializer

from services.store.exceptions import ForbiddenTask
from shared.tasks import INFERENCE_FUNC, POSTPROC_FUNC, VOTE_FUNC

log = logging.getLogger(__name__)

TASKS = frozenset({INFERENCE_FUNC, POSTPROC_FUNC, VOTE_FUNC})
"""Import paths of every function a thinkstream worker may run."""
SERIALIZER = JSONSerializer


class TaskJob(Job):
    """An RQ job that refuses to import anything but a task in `TASKS`."""

    @property
    def func(self) -> Any:
        name = self.func_name
        if name not in TASKS:
            log.error("refused job %s: it names %r, which is not a thinkstream task", self.id, name)
            raise ForbiddenTask(f"job {self.id} names {name!r}, which is not a thinkstream task; it was not run")
        return super().func

    # Callbacks are import paths too; thinkstream never sets any, so a job that has one is forged.
    @property
    def success_callback(self) -> None:
        return self._no_callback(self._success_callback_name)

    @property
    def failure_callback(self) -> None:
        return self._no_callback(self._failure_callback_name)

    @property
    def stopped_callback(self) -> None:
        return self._no_callback(self._stopped_callback_name)

    def send_webhooks(self, status: object, *, exc_string: str | None = None) -> None:
        # Webhooks would make a worker send HTTP requests wherever a forged entry says.
        if self.webhooks:
            log.error("job %s names webhooks; thinkstream sends none", self.id)

    def _no_callback(self, name: str | None) -> None:
        if name:
            log.error("job %s names the callback %r; thinkstream runs no callbacks", self.id, name)
        return None
