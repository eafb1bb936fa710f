"""A checker's warm-up: the task modules imported and every check run once, before its first
heartbeat."""

from __future__ import annotations

import sys

from services.postproc.warmup import warm_up
from shared.tasks import POSTPROC_FUNC, VOTE_FUNC


def test_warmup_imports_the_tasks_and_runs_the_checks() -> None:
    assert warm_up() >= 0
    for func in (POSTPROC_FUNC, VOTE_FUNC):
        assert func.rpartition(".")[0] in sys.modules
