"""The saved-state cache: longest prefix wins, least recently used goes first, bounded in bytes."""

from __future__ import annotations

from services.inference.kv_cache import PrefixStateCache, SavedState, common_prefix


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
