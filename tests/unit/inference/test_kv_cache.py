"""The saved-state cache: longest prefix wins, least recently used goes first, bounded in bytes; a
state is loaded only when it spares more evaluation than its copy costs."""

from __future__ import annotations

from services.inference.kv_cache import (
    KVReuse,
    PrefixStateCache,
    SavedState,
    common_prefix,
    worth_loading,
)
from tests.support.held_context import HeldContext


def state(tokens: list[int], size: int) -> SavedState:
    return SavedState(tokens=tuple(tokens), data=b"x" * size)


def test_best_is_the_longest_shared_prefix() -> None:
    cache = PrefixStateCache(1000)
    cache.put(state([1, 2, 3], 10))
    cache.put(state([1, 2, 3, 4, 5, 6], 10))
    cache.put(state([9, 9], 10))
    length, best = cache.best([1, 2, 3, 4, 5, 7, 8])
    assert length == 5 and best is not None and best.tokens == (1, 2, 3, 4, 5, 6)
    assert cache.best([7]) == (0, None)


def test_capacity_evicts_least_recently_used() -> None:
    cache = PrefixStateCache(25)
    cache.put(state([1], 10))
    cache.put(state([2], 10))
    cache.best([1])  # touch [1]: [2] is now the oldest
    cache.put(state([3], 10))
    assert len(cache) == 2 and cache.size_bytes == 20
    assert cache.best([2]) == (0, None)
    assert cache.best([1])[0] == 1 and cache.best([3])[0] == 1


def test_a_state_larger_than_the_cache_is_not_kept() -> None:
    cache = PrefixStateCache(5)
    cache.put(state([1], 10))
    assert len(cache) == 0 and cache.size_bytes == 0


def test_same_tokens_replace_the_old_state() -> None:
    cache = PrefixStateCache(100)
    cache.put(state([1, 2], 10))
    cache.put(state([1, 2], 30))
    assert len(cache) == 1 and cache.size_bytes == 30


def test_common_prefix() -> None:
    assert common_prefix([1, 2, 3], [1, 2, 4]) == 2
    assert common_prefix([], [1]) == 0
    assert common_prefix([1, 2], [1, 2, 3]) == 2


def test_a_state_is_reused_only_under_the_adapter_it_was_computed_with() -> None:
    cache = PrefixStateCache(1000)
    cache.put(state([1, 2, 3], 10))
    cache.put(SavedState(tokens=(1, 2, 3), data=b"y" * 10, scope="sql@1"))
    assert len(cache) == 2, "the same tokens under two adapters are two states"
    length, base = cache.best([1, 2, 3, 4])
    assert length == 3 and base is not None and base.scope == ""
    length, adapted = cache.best([1, 2, 3, 4], "sql@1")
    assert length == 3 and adapted is not None and adapted.data == b"y" * 10
    assert cache.best([1, 2, 3], "sql@0.5") == (0, None)


def prepared(held: list[int], saved: list[int], prompt: list[int]) -> tuple[int, list[SavedState]]:
    """What `prepare` keeps of `prompt` with `held` in the context and `saved` in the cache, and
    the states it loaded."""
    cache = PrefixStateCache(1 << 30)
    kv = KVReuse(HeldContext(held), cache)  # type: ignore[arg-type]
    cache.put(SavedState(tokens=tuple(saved), data=b"x", scope=kv.scope))
    loaded: list[SavedState] = []

    def load(state: SavedState) -> None:
        loaded.append(state)
        kv._llm.n_tokens = len(state.tokens)
        kv._llm.input_ids[: len(state.tokens)] = state.tokens

    kv._load = load  # type: ignore[method-assign]
    return kv.prepare(prompt), loaded


def test_a_saved_state_that_spares_less_than_its_copy_costs_is_not_loaded() -> None:
    # An earlier question that differs from this one in its last words: loading its state (a
    # copy of the whole state, 12 ms here) would spare evaluating one token (about 6 ms).
    prompt = list(range(1, 41))
    held = [*prompt[:30], 99, 98]
    kept, loaded = prepared(held, [*prompt[:31], 77], prompt)
    assert loaded == [] and kept == 30
    # The prompt's last two tokens are evaluated anyway: a state that holds them spares nothing.
    kept, loaded = prepared([*prompt[:38], 99], prompt, prompt)
    assert loaded == [] and kept == 38


def test_a_saved_state_that_spares_enough_is_loaded() -> None:
    prompt = list(range(1, 41))
    kept, loaded = prepared([*prompt[:30], 99], [*prompt[:32], 77], prompt)
    assert len(loaded) == 1 and kept == 32
    # A conversation's next turn after another job took the context: its whole history comes back.
    history = list(range(1000, 1600))
    kept, loaded = prepared([5, 6, 7], history, [*history, 1, 2, 3])
    assert len(loaded) == 1 and kept == len(history)


def test_the_tokens_a_load_must_spare_grow_with_the_state_it_copies() -> None:
    assert worth_loading(saved=102, live=100, prompt=200, state_tokens=200)
    assert not worth_loading(saved=102, live=100, prompt=200, state_tokens=2000)  # 2 + 7 needed
    assert worth_loading(saved=109, live=100, prompt=200, state_tokens=2000)
    assert not worth_loading(saved=200, live=197, prompt=200, state_tokens=200)  # 1 spared: 198 - 197
