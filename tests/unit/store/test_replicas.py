"""A job is acknowledged only once a replica holds it; one no replica took in time is cancelled."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from redis.client import Pipeline

from services.store.exceptions import NotReplicated
from services.store.jobs import JobStore
from services.store.queues import Origin
from services.store.records import NewJob
from services.store.replicas import Replicas
from shared.schemas import JobStatus
from tests.unit.store.conftest import POOL, make_spec, queued

StoreFactory = Callable[..., JobStore]


class FakeInfo:
    """Answers `INFO replication` as a primary with these replica states does."""

    def __init__(self, *states: str) -> None:
        self.states = list(states)
        self.asked = 0

    def info(self, section: str) -> dict[str, Any]:
        self.asked += 1
        replicas = {f"slave{i}": {"ip": "10.0.0.2", "port": 6379, "state": s} for i, s in enumerate(self.states)}
        return {"role": "master", "connected_slaves": len(self.states), **replicas}


@pytest.fixture
def events() -> None:
    """One Redis: with an event plane of its own, a job's record is not on the Redis whose
    replicas this waits for (services/store/jobs.py says so)."""
    return None


class Acks(Replicas):
    """Replicas that acknowledge (or not) without a real WAIT, which fakeredis lacks."""

    def __init__(self, online: int, acked: bool) -> None:
        super().__init__(FakeInfo(*["online"] * online), wanted=1, timeout_ms=50)  # type: ignore[arg-type]
        self.acked = acked
        self.waited: list[int] = []

    def wait(self, pipe: Pipeline, replicas: int) -> bool:
        pipe.execute()  # the write WAIT would count from
        self.waited.append(replicas)
        return self.acked


def test_replicas_only_online_ones_count_and_info_is_asked_once_a_second() -> None:
    now = [0.0]
    fake = FakeInfo("online", "wait_bgsave")
    replicas = Replicas(fake, wanted=2, timeout_ms=100, clock=lambda: now[0])  # type: ignore[arg-type]
    assert replicas.needed() == 1  # the one still copying the data set is not waited for
    fake.states = ["online", "online"]
    assert replicas.needed() == 1 and fake.asked == 1
    now[0] = 1.5
    assert replicas.needed() == 2 and fake.asked == 2
    assert Replicas(fake, wanted=0, timeout_ms=100).needed() == 0  # type: ignore[arg-type]


def test_replicas_without_any_online_a_job_is_accepted_at_once(make_store: StoreFactory) -> None:
    store = make_store()
    store.replicas = Acks(online=0, acked=False)
    store.submit([NewJob(make_spec("j1"))], owner=None, origin=Origin.INTERACTIVE, pool=POOL)
    assert store.replicas.waited == [] and store.read("j1").status is JobStatus.QUEUED


def test_replicas_a_job_a_replica_holds_is_accepted(make_store: StoreFactory) -> None:
    store = make_store()
    store.replicas = Acks(online=2, acked=True)
    store.submit([NewJob(make_spec("j1"))], owner=None, origin=Origin.INTERACTIVE, pool=POOL)
    assert store.replicas.waited == [1]
    assert queued(store.redis) == ["j1"]


def test_replicas_a_job_no_replica_took_in_time_is_cancelled_not_accepted(make_store: StoreFactory) -> None:
    store = make_store()
    store.replicas = Acks(online=1, acked=False)
    with pytest.raises(NotReplicated, match="THINKSTREAM_ACCEPT_REPLICA_TIMEOUT_MS"):
        store.submit([NewJob(make_spec("j1"))], owner=None, origin=Origin.INTERACTIVE, pool=POOL)
    assert store.read("j1").status is JobStatus.CANCELED
    assert queued(store.redis) == [] and store.scheduler.pick(POOL) is None
    assert store.admission.waiting(Origin.INTERACTIVE) == 0
