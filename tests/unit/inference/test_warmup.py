"""An inference worker's warm-up: one token of a short conversation, before its first heartbeat."""

from __future__ import annotations

import sys

from services.inference.shared_prefix import with_system_prompt
from services.inference.warmup import GREETING, warm_up
from shared.tasks import INFERENCE_FUNC
from tests.support.fake_engine import ScriptedModel


def test_warmup_decodes_one_token_of_a_greeting_and_stops() -> None:
    engine = ScriptedModel(["Hello", "!", " How", " can", " I", " help", "?"])
    took_s = warm_up(engine)
    prompt = engine.prompt_tokens(GREETING)
    assert engine.prepared == [prompt] and engine.calls == [prompt]
    assert engine.generated == 1, "one decode is the warm-up; the rest of an answer is not generated"
    assert engine.closed == 1, "the stream is closed, so the engine is free for the first job"
    assert took_s >= 0
    assert INFERENCE_FUNC.rpartition(".")[0] in sys.modules, "RQ finds the task already imported"


def test_warmup_renders_the_operators_system_prompt_as_jobs_have_it() -> None:
    engine = ScriptedModel(["Hello"])
    warm_up(engine, "You are terse.")
    assert engine.prompts == [with_system_prompt(GREETING, "You are terse.")]
    assert engine.prompts[0][0].content == "You are terse."
