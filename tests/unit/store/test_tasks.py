"""A forged queue entry never runs code in a worker (issue: RQ runs whatever a job names)."""

from __future__ import annotations

import os
from pathlib import Path

import fakeredis
import pytest
from rq import Queue, SimpleWorker
from rq.serializers import JSONSerializer

from services.store.exceptions import ForbiddenTask
from services.store.queues import rq_queue
from services.store.tasks import SERIALIZER, TASKS, TaskJob
from shared import keys


class _Pwned:
    """Unpickling this runs a shell command: what a forged pickle entry would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (f"touch {self.marker}",)


def _work(redis: fakeredis.FakeRedis) -> None:
    queue = rq_queue(keys.POSTPROC_QUEUE, redis)
    SimpleWorker([queue], connection=redis, job_class=TaskJob, serializer=SERIALIZER).work(burst=True)


def test_tasks_a_forged_os_system_job_is_refused_and_nothing_runs(tmp_path: Path) -> None:
    redis = fakeredis.FakeRedis()
    marker = tmp_path / "pwned"
    forged = Queue(keys.POSTPROC_QUEUE, connection=redis, serializer=JSONSerializer)
    job = forged.enqueue("os.system", f"touch {marker}")
    _work(redis)
    assert not marker.exists(), "the forged job ran a shell command"
    refused = TaskJob.fetch(job.id, connection=redis, serializer=SERIALIZER)
    assert refused.is_failed and "not a thinkstream task" in (refused.latest_result().exc_string or "")


def test_tasks_a_forged_pickle_entry_is_never_unpickled(tmp_path: Path) -> None:
    redis = fakeredis.FakeRedis()
    marker = tmp_path / "pwned"
    forged = Queue(keys.POSTPROC_QUEUE, connection=redis)  # RQ's default serializer: pickle
    forged.enqueue("services.postproc.job.run_vote_job", _Pwned(marker))
    _work(redis)
    assert not marker.exists(), "a pickled payload was unpickled by the worker"


def test_tasks_a_forged_callback_is_never_imported(tmp_path: Path) -> None:
    redis = fakeredis.FakeRedis()
    job = TaskJob.create("os.system", args=("true",), connection=redis, serializer=SERIALIZER)
    job._success_callback_name = "os.system"
    job._failure_callback_name = "os.system"
    assert job.success_callback is None and job.failure_callback is None
    with pytest.raises(ForbiddenTask):
        _ = job.func


def test_tasks_the_allowlist_names_importable_task_functions() -> None:
    import importlib

    for path in TASKS:
        module, _, name = path.rpartition(".")
        assert callable(getattr(importlib.import_module(module), name)), path
