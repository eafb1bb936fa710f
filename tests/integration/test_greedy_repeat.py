"""The same greedy question asked twice gets the same text, on the real model, in the worker's
engine: the second time the context holds the whole prompt, and the engine evaluates its last
tokens again together (llama.cpp computes a token evaluated alone differently, and the text
took another turn: llama-cpp-python alone gives another answer to "Why is the sky blue?" the
second time)."""

from __future__ import annotations

import pytest
from llama_cpp import Llama

from services.inference.engine import LlamaEngine, Sampling
from shared.schemas import ChatMessage
from shared.settings import embedded_model_path

pytestmark = pytest.mark.integration

QUESTIONS = ["Why is the sky blue?", "Write a haiku about rain.", "What is 17 times 23?"]
GREEDY = Sampling(temperature=0.0, top_p=1.0, seed=None)


def answer(engine: LlamaEngine, question: str, max_tokens: int = 40) -> tuple[list[int], int]:
    tokens = engine.prompt_tokens([ChatMessage(role="user", content=question)])
    cached = engine.prepare(tokens)
    out: list[int] = []
    stream = engine.stream(tokens, GREEDY)
    for token, _piece in stream:
        out.append(token)
        if len(out) == max_tokens:
            break
    stream.close()  # type: ignore[attr-defined]
    engine.remember()
    return out, cached


def test_greedy_repeat_the_same_question_twice_gets_the_same_text() -> None:
    llm = Llama(model_path=str(embedded_model_path()), n_ctx=1024, n_threads=1, verbose=False)
    try:
        engine = LlamaEngine(llm)
        for question in QUESTIONS:
            first, _ = answer(engine, question)
            again, cached = answer(engine, question)
            prompt = len(engine.prompt_tokens([ChatMessage(role="user", content=question)]))
            assert cached == prompt - 2, "the second time, the prompt is cached but for its last two tokens"
            assert again == first, f"{question!r}: {llm.detokenize(first)!r} then {llm.detokenize(again)!r}"
    finally:
        llm.close()
