"""Jobs on slots of one batched context: each job's generation (budget forcing, stop strings,
max_tokens, cancel) runs on its own slot as it would alone, while the others run beside it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import pytest

from services.inference.engine import Sampling
from services.inference.generation import Generation, Outcome
from services.inference.kv_cache import FRESH_TAIL_TOKENS, PrefixStateCache
from services.inference.slot_engine import SlotPool
from services.inference.slots import Batcher
from services.inference.splitter import Delta
from shared.schemas import ChatMessage
from tests.support.fake_backend import ScriptedBackend

GREEDY = Sampling(temperature=0.0, top_p=1.0, seed=None)


class CharPrompt:
    """A chat template stand-in: one token per character; the first token names how long the
    scripted model goes on (its context's length limit)."""

    def tokens(self, messages: Sequence[ChatMessage]) -> list[int]:
        return [400, *(ord(c) for m in messages for c in m.content)]

    def tokenize(self, text: str) -> list[int]:
        return [ord(c) for c in text]


@dataclass(frozen=True)
class Job:
    question: str
    max_tokens: int = 60
    budget: int = 20
    stop: tuple[str, ...] = ()
    cancel_after: int | None = None


@pytest.fixture
def make_pool() -> Iterator[Callable[..., SlotPool]]:
    made: list[SlotPool] = []

    def make(n_seq: int = 4) -> SlotPool:
        backend = ScriptedBackend(n_seq=n_seq, n_batch=256)
        pool = SlotPool(Batcher(backend, chunk_tokens=16), backend, CharPrompt())  # type: ignore[arg-type]
        made.append(pool)
        return pool

    yield make
    for pool in made:
        pool.batcher.close()


def run_job(pool: SlotPool, job: Job) -> tuple[Outcome, str, str]:
    engine = pool.engine()
    try:
        engine.use_adapter(None)
        prompt = engine.prompt_tokens([ChatMessage(role="user", content=job.question)])
        engine.prepare(prompt)
        generation = Generation(
            engine,
            prompt,
            max_tokens=job.max_tokens,
            max_reasoning_tokens=job.budget,
            n_ctx=4096,
            sampling=GREEDY,
            stop=job.stop,
        )
        parts: dict[str, list[str]] = {"reasoning": [], "answer": []}

        def on_deltas(deltas: list[Delta], counts: Outcome) -> bool:
            for delta in deltas:
                parts[delta.kind].append(delta.text)
            return job.cancel_after is None or counts.generated_tokens < job.cancel_after

        outcome = generation.run(on_deltas)
        engine.remember()
        return outcome, "".join(parts["reasoning"]), "".join(parts["answer"])
    finally:
        engine.finish()


JOBS = [
    Job("first question", budget=10, max_tokens=40),
    Job("second, with a stop string", budget=5, max_tokens=60, stop=("><",)),
    Job("third, cancelled", budget=30, max_tokens=80, cancel_after=12),
    Job("fourth, short of tokens", budget=50, max_tokens=25),
]


def test_slot_engine_jobs_at_once_end_as_each_ends_alone(make_pool) -> None:
    alone = [run_job(make_pool(), job) for job in JOBS]
    pool = make_pool()
    together: list[tuple[Outcome, str, str] | None] = [None] * len(JOBS)

    def run(index: int) -> None:
        together[index] = run_job(pool, JOBS[index])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(JOBS))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    for (solo, solo_reasoning, solo_answer), result in zip(alone, together, strict=True):
        assert result is not None
        outcome, reasoning, answer = result
        assert (reasoning, answer) == (solo_reasoning, solo_answer)
        assert (outcome.reasoning_tokens, outcome.answer_tokens) == (solo.reasoning_tokens, solo.answer_tokens)
        assert (outcome.finish_reason, outcome.reasoning_end) == (solo.finish_reason, solo.reasoning_end)
    by_reason = {job.question: result[0] for job, result in zip(JOBS, together, strict=True) if result}
    assert by_reason["first question"].reasoning_end == "budget"
    assert by_reason["first question"].reasoning_tokens == 10
    assert by_reason["second, with a stop string"].finish_reason == "stop"
    assert by_reason["third, cancelled"].finish_reason == "canceled"
    assert by_reason["third, cancelled"].generated_tokens == 12
    assert by_reason["fourth, short of tokens"].finish_reason == "length"
    assert max(len(rows) for rows in pool.batcher.backend.steps) > 1  # type: ignore[attr-defined]


def test_slot_engine_a_job_gives_its_sequence_back_however_it_ends(make_pool) -> None:
    pool = make_pool(n_seq=1)
    run_job(pool, Job("cancelled", cancel_after=3))
    run_job(pool, Job("next"))  # would find no free sequence if the first kept it
    assert pool.batcher.busy() == 0


def test_slot_engine_has_every_method_of_the_engine_protocol() -> None:
    # A job runs the same generation code on either engine (budget forcing needed text_tokens).
    from services.inference.engine import Engine, LlamaEngine
    from services.inference.slot_engine import SlotEngine

    wanted = {name for name in vars(Engine) if not name.startswith("_")}
    assert wanted - set(dir(SlotEngine)) == set()
    assert wanted - set(dir(LlamaEngine)) == set()


def test_slot_engine_a_job_remembers_its_state_for_its_owner_after_another_took_the_slot() -> None:
    backend = ScriptedBackend(n_seq=1, n_batch=256)  # every job gets the one sequence
    pool = SlotPool(Batcher(backend, chunk_tokens=16), backend, CharPrompt(), cache=PrefixStateCache(1 << 20))  # type: ignore[arg-type]
    try:

        def job(owner: str, question: str) -> tuple[int, list[int]]:
            engine = pool.engine()
            try:
                engine.use_adapter(None)
                engine.use_owner(owner)
                prompt = engine.prompt_tokens([ChatMessage(role="user", content=question)])
                cached = engine.prepare(prompt)
                tokens = [token for token, _ in engine.stream(prompt, GREEDY)]
                engine.remember()
                return cached, [*prompt, *tokens]
            finally:
                engine.finish()

        question = "what is a prime number?"
        _, alice_context = job("alice", question)
        job("bob", "something else entirely")  # takes the sequence and drops Alice's tokens
        assert backend.kv[0][: len(alice_context)] != alice_context
        # Alice's next turn starts with her whole first context: it comes back from her saved state.
        follow_up = question + "".join(chr(t) for t in alice_context[len(question) + 1 :])
        cached, _ = job("alice", follow_up)
        assert cached == len(alice_context) - FRESH_TAIL_TOKENS
    finally:
        pool.batcher.close()
