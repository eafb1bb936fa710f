"""What a post-processing worker does once before it says it is alive, so the first answer is
checked as quickly as the next: the checks load sympy (about a second), which RQ would otherwise
import with the task function on the first job, and one run over a small trace fills their
caches."""

from __future__ import annotations

import importlib
import logging
import time

from shared.tasks import POSTPROC_FUNC, VOTE_FUNC

log = logging.getLogger(__name__)


def warm_up() -> float:
    """Import the tasks and run every check once; returns the seconds taken."""
    started = time.perf_counter()
    for func in (POSTPROC_FUNC, VOTE_FUNC):
        importlib.import_module(func.rpartition(".")[0])
    from services.postproc.checks import Trace, run_checks

    run_checks(
        Trace(
            question="What is 12 × 3 + 4?",
            reasoning="12 × 3 = 36, and 36 + 4 = 40.",
            answer="The answer is **40**.",
            finish_reason="stop",
            reasoning_end="model",
        )
    )
    took_s = time.perf_counter() - started
    log.info("warmed up in %.2f s", took_s)
    return took_s
