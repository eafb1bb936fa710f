"""The Redis memory budget: read in the background, so a request does not wait for INFO."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import fakeredis
import pytest

from services.gateway import memory
from services.gateway.memory import MemoryBudget
from services.store.exceptions import StorageFull
from shared.settings import Settings


class CountingRedis(fakeredis.FakeAsyncRedis):
    infos = 0
    used_memory = 5 << 20

    async def info(self, section: Any = None, *args: Any, **kwargs: Any) -> dict[str, Any]:
        CountingRedis.infos += 1
        return {"used_memory": CountingRedis.used_memory}


@pytest.fixture(autouse=True)
def fast_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "READ_EVERY_S", 0.02)
    monkeypatch.setattr(memory, "STALE_AFTER_S", 0.3)
    CountingRedis.infos = 0
    CountingRedis.used_memory = 5 << 20


def budget(tmp_path: Path, mb: int) -> MemoryBudget:
    settings = Settings(redis_url="redis://fake", data_dir=tmp_path, redis_memory_budget_mb=mb)
    return MemoryBudget(CountingRedis(), settings)


def test_requests_check_the_background_reading_without_asking_redis(tmp_path: Path) -> None:
    async def scenario() -> tuple[int, int]:
        watched = budget(tmp_path, mb=64)
        reader = asyncio.create_task(watched.run())
        await asyncio.sleep(0.1)  # a few background readings
        before = CountingRedis.infos
        for _ in range(50):
            await watched.check()
        during = CountingRedis.infos - before
        reader.cancel()
        return before, during

    before, during = asyncio.run(scenario())
    assert before >= 2
    assert during <= 1  # at most the background's own next reading, not one per request


def test_a_full_redis_refuses_new_work_once_the_background_reads_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        watched = budget(tmp_path, mb=64)
        reader = asyncio.create_task(watched.run())
        await watched.check()
        CountingRedis.used_memory = 65 << 20
        await asyncio.sleep(0.1)
        with pytest.raises(StorageFull, match="THINKSTREAM_REDIS_MEMORY_BUDGET_MB"):
            await watched.check()
        reader.cancel()

    asyncio.run(scenario())


def test_without_the_background_reader_a_request_reads_a_stale_figure_again(tmp_path: Path) -> None:
    async def scenario() -> None:
        watched = budget(tmp_path, mb=64)
        await watched.check()  # the first reading
        CountingRedis.used_memory = 65 << 20
        await watched.check()  # fresh enough: not read again
        await asyncio.sleep(0.35)
        with pytest.raises(StorageFull):
            await watched.check()

    asyncio.run(scenario())
    assert CountingRedis.infos == 2
