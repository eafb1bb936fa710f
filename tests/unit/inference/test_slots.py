"""Continuous batching with a scripted backend: sequences join and leave between steps, never
see each other's tokens, and each writes what it would write alone."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from services.inference.engine import Sampling
from services.inference.exceptions import SlotError
from services.inference.slots import Batcher
from tests.support.fake_backend import ScriptedBackend, alone

GREEDY = Sampling(temperature=0.0, top_p=1.0, seed=None)


@pytest.fixture
def make_batcher() -> Iterator[Callable[..., tuple[Batcher, ScriptedBackend]]]:
    made: list[Batcher] = []

    def make(
        n_seq: int = 4, n_batch: int = 64, chunk_tokens: int = 8, **kwargs: int
    ) -> tuple[Batcher, ScriptedBackend]:
        backend = ScriptedBackend(n_seq=n_seq, n_batch=n_batch, **kwargs)
        batcher = Batcher(backend, chunk_tokens=chunk_tokens)
        made.append(batcher)
        return batcher, backend

    yield make
    for batcher in made:
        batcher.close()


def prompt(length: int, tag: int) -> list[int]:
    """A prompt whose scripted answer ends when the context reaches `length` tokens."""
    return [length, tag, *range(100 + tag, 106 + tag)]


def generate(batcher: Batcher, tokens: list[int], limit: int = 1000) -> list[int]:
    seq, _ = batcher.lease(tokens)
    try:
        out = []
        stream = batcher.stream(seq, tokens, GREEDY)
        for token, _piece in stream:
            out.append(token)
            if len(out) >= limit:
                break
        stream.close()  # type: ignore[attr-defined]
        return out
    finally:
        batcher.release(seq)


def in_threads(*jobs: Callable[[], list[int]]) -> list[list[int]]:
    results: list[list[int]] = [[] for _ in jobs]

    def run(index: int) -> None:
        results[index] = jobs[index]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return results


def test_slots_concurrent_sequences_write_what_each_writes_alone(make_batcher) -> None:
    batcher, backend = make_batcher()
    prompts = [prompt(300 + 7 * i, i) for i in range(4)]
    results = in_threads(*(lambda p=p: generate(batcher, p) for p in prompts))
    assert results == [alone(p) for p in prompts]
    assert max(len(rows) for rows in backend.steps) > 1, "the sequences were never decoded together"


def test_slots_a_joining_prompt_is_read_in_chunks_while_others_decode(make_batcher) -> None:
    batcher, backend = make_batcher(chunk_tokens=4)
    first = prompt(200, 1)
    seq_a, _ = batcher.lease(first)
    stream_a = batcher.stream(seq_a, first, GREEDY)
    got_a = [next(stream_a)[0] for _ in range(3)]
    long_prompt = [60, 2, *range(500, 540)]
    result = generate(batcher, long_prompt)
    got_a += [next(stream_a)[0] for _ in range(3)]
    stream_a.close()  # type: ignore[attr-defined]
    batcher.release(seq_a)
    assert result == alone(long_prompt)
    assert got_a == alone(first)[:6]
    joining = [(i, row) for i, row in backend.rows_of(1 - seq_a) if not row.sample or len(row.tokens) > 1]
    assert len(joining) >= len(long_prompt) // 4 - 1 and all(len(row.tokens) <= 4 for _, row in joining)
    # A prompt piece has a step of its own (llama.cpp would otherwise cut it where A's row
    # falls), and while B's prompt was read, A went on decoding between its pieces.
    steps_with_a = {i for i, _ in backend.rows_of(seq_a)}
    assert not any(i in steps_with_a for i, _ in joining)
    first_piece, last_piece = joining[0][0], joining[-1][0]
    assert any(first_piece < i < last_piece for i in steps_with_a)


def test_slots_a_closed_stream_leaves_at_once_and_the_others_go_on(make_batcher) -> None:
    batcher, backend = make_batcher()
    short_lived, other = prompt(300, 1), prompt(60, 2)

    def stop_early() -> list[int]:
        return generate(batcher, short_lived, limit=3)

    results = in_threads(stop_early, lambda: generate(batcher, other))
    assert results == [alone(short_lived)[:3], alone(other)]
    seq_of_short = next(row.seq for rows in backend.steps for row in rows if row.tokens[0] == 300)
    evaluated_after = [row for _, row in backend.rows_of(seq_of_short) if row.sample and row.pos > 9]
    # At most the lookahead beyond the three tokens taken: the rest never runs.
    assert len(evaluated_after) <= 3


def test_slots_the_model_ending_one_sequence_ends_only_that_stream(make_batcher) -> None:
    batcher, _ = make_batcher()
    quick, slow = prompt(12, 1), prompt(80, 2)
    results = in_threads(lambda: generate(batcher, quick), lambda: generate(batcher, slow))
    assert results == [alone(quick), alone(slow)]
    assert len(results[0]) == 12 - len(quick)


def test_slots_a_conversation_next_turn_gets_the_sequence_holding_its_prefix(make_batcher) -> None:
    batcher, backend = make_batcher(n_seq=3)
    turn_one = prompt(30, 1)
    answer = generate(batcher, turn_one)
    generate(batcher, prompt(30, 2))  # another conversation in between takes another sequence
    turn_two = [*turn_one, *answer, 7, 7, 7]
    seq, cached = batcher.lease(turn_two)
    assert cached == len(turn_one) + len(answer)
    before = len(backend.steps)
    assert list(batcher.stream(seq, turn_two, GREEDY)) == []  # the scripted turn ends at 30 tokens
    batcher.release(seq)
    evaluated = sum(len(row.tokens) for rows in backend.steps[before:] for row in rows if row.seq == seq)
    assert evaluated == len(turn_two) - cached  # only what it did not hold


def test_slots_a_new_stream_on_the_same_sequence_keeps_the_shared_prefix(make_batcher) -> None:
    """Budget forcing: the job closes its stream and goes on after a context of its own."""
    batcher, backend = make_batcher()
    first = prompt(200, 3)
    seq, _ = batcher.lease(first)
    stream = batcher.stream(seq, first, GREEDY)
    generated = [next(stream)[0] for _ in range(5)]
    stream.close()  # type: ignore[attr-defined]
    forced = [*first, *generated, 42, 43]
    before = len(backend.steps)
    again = batcher.stream(seq, forced, GREEDY)
    token, _ = next(again)
    again.close()  # type: ignore[attr-defined]
    batcher.release(seq)
    assert token == alone(forced, limit=1)[0]
    assert backend.kv[seq][: len(forced)] == forced
    first_row = next(row for rows in backend.steps[before:] for row in rows if row.seq == seq)
    # Only what it did not hold: the fifth token may or may not have been evaluated when the
    # first stream closed (the decoder runs ahead of the job).
    assert first_row.pos in (len(first) + 4, len(first) + 5) and first_row.tokens == forced[first_row.pos :]


def test_slots_pieces_are_evaluated_one_per_step_for_an_exact_resume(make_batcher) -> None:
    batcher, backend = make_batcher()
    head = prompt(100, 4)
    kept = alone(head, limit=4)
    pieces = [[kept[0]], kept[1:3], [kept[3]]]
    context = [*head, *kept]

    def rows_of_one_stream(seq: int) -> list[tuple[int, list[int]]]:
        before = len(backend.steps)
        stream = batcher.stream(seq, context, GREEDY, pieces=pieces)
        token, _ = next(stream)
        stream.close()  # type: ignore[attr-defined]
        assert token == alone(context, limit=1)[0]
        return [(row.pos, row.tokens) for rows in backend.steps[before:] for row in rows if row.seq == seq]

    seq, _ = batcher.lease(head)
    fresh = rows_of_one_stream(seq)
    assert fresh[:4] == [(0, head), (8, pieces[0]), (9, pieces[1]), (11, pieces[2])]
    # The sequence now holds all of it (and the lookahead): the pieces are evaluated again.
    again = rows_of_one_stream(seq)
    assert again[:3] == [(8, pieces[0]), (9, pieces[1]), (11, pieces[2])]
    batcher.release(seq)


def test_slots_a_failed_step_fails_its_streams_and_the_decoder_goes_on(make_batcher) -> None:
    batcher, _ = make_batcher(fail_on=666)
    bad = [50, 666, 1, 2]
    with pytest.raises(SlotError, match="could not evaluate"):
        generate(batcher, bad)
    good = prompt(30, 1)
    assert generate(batcher, good) == alone(good)


def test_slots_lease_refuses_when_all_sequences_are_taken(make_batcher) -> None:
    batcher, _ = make_batcher(n_seq=2)
    batcher.lease([1])
    batcher.lease([2])
    with pytest.raises(SlotError, match="all 2 sequences"):
        batcher.lease([3])


def test_slots_another_adapter_waits_for_the_jobs_before_it(make_batcher) -> None:
    batcher, _ = make_batcher()
    switched: list[str] = []
    batcher.enter_scope("", lambda: switched.append(""))
    entered = threading.Event()

    def with_adapter() -> None:
        batcher.enter_scope("lora-a", lambda: switched.append("lora-a"))
        entered.set()

    thread = threading.Thread(target=with_adapter)
    thread.start()
    assert not entered.wait(0.2), "a job switched the adapter under a running job"
    batcher.leave_scope()
    assert entered.wait(2)
    thread.join()
    assert switched == ["lora-a"]
    batcher.leave_scope()


def test_slots_another_owner_reuses_only_a_shared_prefix_held_whole() -> None:
    backend = ScriptedBackend(n_seq=1)  # Bob's job can only get the sequence Alice's used
    opening = [200, 7, 7]
    batcher = Batcher(backend, chunk_tokens=8, shared_prefixes=[opening])
    try:
        alice = [*opening, 1, 2, 3, 4, 5]
        seq, _ = batcher.lease(alice, owner="alice")
        assert list(batcher.stream(seq, alice, GREEDY)) != []
        batcher.release(seq)
        # Bob guesses most of Alice's prompt: he gets the template's opening, not her tokens.
        guess = [*opening, 1, 2, 3, 4, 9]
        bob_seq, cached = batcher.lease(guess, owner="bob")
        assert cached == len(opening) and backend.kv[bob_seq] == opening
        batcher.release(bob_seq)
        # Alice's next turn: her sequence went to Bob; nothing of hers is left in it.
        again, cached = batcher.lease([*alice, 6], owner="alice")
        assert cached <= len(opening)
        batcher.release(again)
    finally:
        batcher.close()


def test_slots_a_prompts_last_token_is_never_evaluated_alone(make_batcher) -> None:
    # llama.cpp computes a token evaluated alone differently from one of several; the sampled
    # one then differs from what the uncached prompt gives (kv_cache.FRESH_TAIL_TOKENS).
    batcher, backend = make_batcher(chunk_tokens=4)
    question = [200, 5, 1, 2, 3, 4, 5, 6, 7]  # 9 tokens: chunks of 4 would leave the last one alone
    first = generate(batcher, question, limit=3)
    again = generate(batcher, question, limit=3)  # the sequence holds all of it now
    assert again == first
    prompt_rows = [row for rows in backend.steps for row in rows if row.pos < len(question)]
    assert [len(row.tokens) for row in prompt_rows] == [4, 3, 2, 2], "chunks 4 + 3 + 2, then the cached tail of 2"


def test_slots_a_save_is_taken_between_steps_and_the_job_does_not_wait_for_it(make_batcher) -> None:
    batcher, backend = make_batcher()
    other, mine = prompt(400, 1), prompt(30, 2)
    seq, _ = batcher.lease(mine)
    assert alone(mine) == [t for t, _ in batcher.stream(seq, mine, GREEDY)]
    held = batcher.held(seq)
    # Another job decodes; its next step is held still, as a long step on a busy node would be.
    other_seq, _ = batcher.lease(other)
    stream = batcher.stream(other_seq, other, GREEDY)
    next(stream)
    backend.gate = threading.Event()
    time.sleep(0.05)  # the decode thread is now inside a step
    kept: list[tuple[list[int], bytes]] = []
    saved_after: list[int] = []
    started = time.monotonic()
    batcher.save_later(seq, lambda: backend.save(seq), lambda tokens, data: kept.append((tokens, data)))
    assert time.monotonic() - started < 0.05, "the job waited for the step in flight"
    batcher.release(seq)
    assert kept == [], "saved during a step"
    steps_at_save = len(backend.steps)
    backend.gate.set()
    backend.gate = None
    deadline = time.monotonic() + 2
    while not kept and time.monotonic() < deadline:
        time.sleep(0.01)
    saved_after.append(len(backend.steps))
    assert kept == [(held, backend.save_of(held))], "the tokens the sequence held and their state"
    assert saved_after[0] <= steps_at_save + 1, "taken before the step after the one in flight"
    stream.close()  # type: ignore[attr-defined]
    batcher.release(other_seq)


def test_slots_nothing_changes_a_sequence_before_its_save_is_taken(make_batcher) -> None:
    batcher, backend = make_batcher(n_seq=2)
    alice = prompt(30, 3)
    seq, _ = batcher.lease(alice, owner="alice")
    assert list(batcher.stream(seq, alice, GREEDY)) != []
    held = batcher.held(seq)
    # Another job decodes on the other sequence; its step is held still.
    other_seq, _ = batcher.lease(prompt(400, 5), owner="carol")
    stream = batcher.stream(other_seq, prompt(400, 5), GREEDY)
    next(stream)
    backend.gate = threading.Event()
    time.sleep(0.05)
    kept: list[list[int]] = []
    batcher.save_later(seq, lambda: backend.save(seq), lambda tokens, data: kept.append(backend.load_of(data)))
    batcher.release(seq)
    # Bob's job gets Alice's sequence and would truncate it to nothing shared: it waits.
    leased: list[tuple[int, int]] = []
    bob = threading.Thread(target=lambda: leased.append(batcher.lease(prompt(30, 4), owner="bob")))
    bob.start()
    bob.join(0.2)
    assert leased == [], "the sequence was taken before its save"
    backend.gate.set()
    backend.gate = None
    bob.join(2)
    assert leased == [(seq, 0)] and backend.kv[seq] == []
    assert kept == [held], "the save holds what Alice's job left, not Bob's truncation"
    stream.close()  # type: ignore[attr-defined]
    batcher.release(other_seq)
    batcher.release(seq)
