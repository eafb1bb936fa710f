"""Coalesced events carry every generated token's id exactly once, with the text they made."""

from __future__ import annotations

from services.inference.batch import DeltaBatch
from services.inference.generation import Outcome
from services.inference.splitter import Delta
from shared.schemas import ForcedClose


def counts(tokens: list[int], reasoning: int, answer: int, close: ForcedClose | None = None) -> Outcome:
    return Outcome(reasoning_tokens=reasoning, answer_tokens=answer, tokens=tokens, forced_close=close)


def test_batch_ids_go_with_the_last_part_and_wait_while_there_is_no_text() -> None:
    batch = DeltaBatch()
    tokens = [10, 11]
    batch.add([Delta("reasoning", "a")], counts(tokens, 1, 0))
    batch.add([], counts(tokens, 2, 0))  # a token whose text is held back
    [part] = batch.drain()
    assert (part.kind, part.text, part.tokens, part.token_ids) == ("reasoning", "a", 2, [10, 11])
    tokens += [12]
    batch.add([], counts(tokens, 3, 0))
    assert batch.drain() == []  # no text: its id waits for the next event
    tokens += [13]
    batch.add([Delta("reasoning", " b"), Delta("answer", "c")], counts(tokens, 3, 1))
    reasoning, answer = batch.drain()
    assert (reasoning.token_ids, answer.token_ids) == ([], [12, 13])
    assert (reasoning.tokens, answer.tokens) == (1, 1)


def test_batch_forced_close_goes_with_the_first_event_after_it_once() -> None:
    batch = DeltaBatch()
    close = ForcedClose(at_token=1, reason="budget")
    tokens = [10, 11]
    batch.add([Delta("reasoning", "a")], counts(tokens[:1], 1, 0))
    batch.add([Delta("answer", "x")], counts(tokens, 1, 1, close))
    first, second = batch.drain()
    assert first.forced_close == close and second.forced_close is None
    tokens.append(12)
    batch.add([Delta("answer", "y")], counts(tokens, 1, 2, close))
    [part] = batch.drain()
    assert part.forced_close is None and part.token_ids == [12]


def test_batch_after_a_restore_sends_only_new_ids_and_counts() -> None:
    kept = counts([10, 11, 12], 2, 1, ForcedClose(at_token=2, reason="eos"))
    batch = DeltaBatch(after=kept)
    tokens = [*kept.tokens, 13]
    batch.add([Delta("answer", "z")], counts(tokens, 2, 2, kept.forced_close))
    [part] = batch.drain()
    assert (part.tokens, part.token_ids, part.forced_close) == (1, [13], None)
