"""What an inference worker does once before it says it is alive, so the first job is as quick
as the next: llama.cpp's first decode builds its compute graph and pages in the weights (about
0.4 s with the embedded model), and RQ imports the task function on the first job it runs. The
chat template's fixed opening and the operator's system prompt are left in the context: a shared
prefix that the first job reuses, whatever its API key."""

from __future__ import annotations

import importlib
import logging
import time

from services.inference.engine import Engine, Sampling
from services.inference.shared_prefix import with_system_prompt
from shared.schemas import ChatMessage
from shared.tasks import INFERENCE_FUNC

log = logging.getLogger(__name__)

GREETING = [ChatMessage(role="user", content="Hello")]


def warm_up(engine: Engine, system_prompt: str | None = None) -> float:
    """Import the task, decode one token of a short conversation (after the operator's system
    prompt, as jobs have it); returns the seconds taken."""
    started = time.perf_counter()
    importlib.import_module(INFERENCE_FUNC.rpartition(".")[0])
    prompt = engine.prompt_tokens(with_system_prompt(GREETING, system_prompt))
    engine.prepare(prompt)
    stream = engine.stream(prompt, Sampling(temperature=0.0, top_p=1.0, seed=None))
    try:
        next(stream, None)
    finally:
        stream.close()  # type: ignore[attr-defined]
    took_s = time.perf_counter() - started
    log.info("warmed up in %.2f s", took_s)
    return took_s
