"""Storage quotas per API key: counted atomically, freed by expiry and deletion."""

from __future__ import annotations

import time
from pathlib import Path

import fakeredis
import pytest

from services.store.exceptions import StorageQuotaExceeded
from services.store.usage import StorageUsage
from shared.settings import Settings

MiB = 1 << 20


def usage(tmp_path: Path, **overrides: int) -> StorageUsage:
    settings = Settings(redis_url="redis://fake", data_dir=tmp_path, **overrides)
    return StorageUsage(fakeredis.FakeRedis(), settings)


def test_usage_a_key_that_uploads_8_mib_files_is_refused_long_before_256_mib(tmp_path: Path) -> None:
    store = usage(tmp_path)  # the defaults
    accepted = 0
    with pytest.raises(StorageQuotaExceeded, match="THINKSTREAM_KEY_MAX_STORED_MB") as refused:
        for n in range(32):
            store.reserve("alice", "file", f"f{n}", 8 * MiB, ttl_s=3600)
            accepted += 1
    assert accepted * 8 <= 64 and refused.value.status == 429
    store.reserve("bob", "file", "f0", 8 * MiB, ttl_s=3600)  # another key is not affected


def test_usage_counts_objects_per_kind_and_frees_deleted_ones(tmp_path: Path) -> None:
    store = usage(tmp_path, key_max_files=2, key_max_batches=1)
    store.reserve("alice", "file", "a", 10, ttl_s=3600)
    store.reserve("alice", "file", "b", 10, ttl_s=3600)
    store.reserve("alice", "batch", "x", 10, ttl_s=3600)  # batches are counted apart
    with pytest.raises(StorageQuotaExceeded, match="THINKSTREAM_KEY_MAX_FILES"):
        store.reserve("alice", "file", "c", 10, ttl_s=3600)
    store.release("alice", "file", "a")
    store.reserve("alice", "file", "c", 10, ttl_s=3600)


def test_usage_expired_objects_free_their_room(tmp_path: Path) -> None:
    store = usage(tmp_path, key_max_files=1)
    store.reserve("alice", "file", "old", 10, ttl_s=1)
    time.sleep(1.1)
    store.reserve("alice", "file", "new", 10, ttl_s=3600)


def test_usage_a_batch_grows_with_its_results(tmp_path: Path) -> None:
    store = usage(tmp_path, key_max_stored_mb=1)
    store.reserve("alice", "batch", "x", 100, ttl_s=3600)
    store.grow("alice", "batch", "x", MiB)
    with pytest.raises(StorageQuotaExceeded):
        store.reserve("alice", "file", "f", 100, ttl_s=3600)


def test_usage_a_file_larger_than_any_quota_is_413(tmp_path: Path) -> None:
    store = usage(tmp_path, key_max_stored_mb=1)
    with pytest.raises(StorageQuotaExceeded) as refused:
        store.reserve("alice", "file", "huge", 2 * MiB, ttl_s=3600)
    assert refused.value.status == 413
