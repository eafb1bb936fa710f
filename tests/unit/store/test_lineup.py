"""The line: the order the scheduler will really take waiting jobs in, and when each should start."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from services.store.jobs import JobStore, rq_id_of
from services.store.lineup import Line, Worker, forecast, job_of, read_line
from services.store.queues import Origin
from services.store.records import NewJob
from services.store.scheduler import Priority
from shared import keys
from shared.schemas import QueuedEvent, parse_event
from tests.unit.store.conftest import POOL, make_spec

StoreFactory = Callable[..., JobStore]


def submit(store: JobStore, job_id: str, owner: str | None, priority: Priority = Priority.NORMAL) -> None:
    origin = Origin.BATCH if priority is Priority.LOW else Origin.INTERACTIVE
    store.submit([NewJob(make_spec(job_id))], owner=owner, origin=origin, pool=POOL, priority=priority)


def picks(store: JobStore) -> list[str]:
    order = []
    while (picked := store.scheduler.pick(POOL)) is not None:
        order.append(picked[1])
    return order


MIXES = {
    "one key, one priority": [("a0", "alice", "normal"), ("a1", "alice", "normal"), ("a2", "alice", "normal")],
    "turns over keys": [
        *((f"a{n}", "alice", "normal") for n in range(4)),
        ("b0", "bob", "normal"),
        ("c0", "carol", "normal"),
        ("b1", "bob", "normal"),
    ],
    "priorities": [
        ("l0", "alice", "low"),
        ("n0", "alice", "normal"),
        ("l1", "bob", "low"),
        ("h0", "bob", "high"),
        ("n1", "bob", "normal"),
        ("h1", "alice", "high"),
    ],
    "keyless": [("x0", None, "normal"), ("x1", None, "high"), ("x2", None, "low")],
}


@pytest.mark.parametrize("mix", MIXES.values(), ids=MIXES.keys())
def test_lineup_forecast_order_is_the_schedulers_pick_order(make_store: StoreFactory, mix: list) -> None:
    store = make_store(key_max_queued_jobs=100)
    for job_id, owner, priority in mix:
        submit(store, job_id, owner, Priority(priority))
    line = read_line(store.redis, POOL)
    predicted = [slot.rq_id for slot in forecast(line, **_no_workers(store))]
    assert predicted == picks(store)


@pytest.mark.parametrize(("normal_queued_at", "first"), [(20.0, "fresh"), (40.0, "batch")])
def test_lineup_a_low_job_that_waited_past_the_aging_goes_first(normal_queued_at: float, first: str) -> None:
    line = Line(
        rings={Priority.LOW: ["alice"], Priority.NORMAL: ["bob"]},
        queues={(Priority.LOW, "alice"): ["batch"], (Priority.NORMAL, "bob"): ["fresh"]},
        waiting={Priority.LOW: {"batch": 0.0}, Priority.NORMAL: {"fresh": normal_queued_at}},
    )
    slots = forecast(line, now=50.0, aging_s=30, workers=[], cost_tokens={}, default_cost_tokens=1)
    assert slots[0].rq_id == first


def test_lineup_expected_starts_follow_the_pace_and_the_budgets() -> None:
    line = Line(
        rings={Priority.NORMAL: ["-"]},
        queues={(Priority.NORMAL, "-"): ["j1", "j2", "j3"]},
        waiting={Priority.NORMAL: {"j1": 1.0, "j2": 2.0, "j3": 3.0}},
    )
    now = 100.0
    workers = [Worker("w1", tokens_per_s=50, free_at=now + 2), Worker("w2", tokens_per_s=25, free_at=now + 4)]
    slots = forecast(
        line,
        now=now,
        aging_s=60,
        workers=workers,
        cost_tokens={"j1": 100, "j2": 50, "j3": 10},
        default_cost_tokens=500,
    )
    # j1 on w1 at +2 (busy 2 s, to +4); j2 on w1 or w2 at +4 (w1 first: to +5); j3 at +4 on w2.
    assert [(s.rq_id, s.position, s.start_at) for s in slots] == [
        ("j1", 0, 102.0),
        ("j2", 1, 104.0),
        ("j3", 2, 104.0),
    ]


def test_lineup_without_a_paced_worker_gives_places_but_no_start() -> None:
    line = Line(
        rings={Priority.HIGH: ["-"]},
        queues={(Priority.HIGH, "-"): ["a", "b"]},
        waiting={Priority.HIGH: {"a": 1.0, "b": 2.0}},
    )
    slots = forecast(
        line, now=10.0, aging_s=60, workers=[Worker("w", 0.0, 10.0)], cost_tokens={}, default_cost_tokens=1
    )
    assert [(s.position, s.start_at) for s in slots] == [(0, None), (1, None)]


def test_lineup_job_of_inverts_rq_id_of() -> None:
    assert job_of(rq_id_of("abc", 1)) == ("abc", 1)
    assert job_of(rq_id_of("abc", 3)) == ("abc", 3)


def test_update_place_only_while_the_run_waits_and_once_per_interval(make_store: StoreFactory) -> None:
    store = make_store()
    submit(store, "waiting", "alice")
    assert store.update_place("waiting", 1, 3, time.time() + 12, min_interval_s=1.0)
    assert not store.update_place("waiting", 1, 2, None, min_interval_s=1.0), "a second update within the interval"
    assert not store.update_place("waiting", 2, 2, None, min_interval_s=0.0), "a run that is not the job's"
    events = [parse_event(raw) for raw in store.events.lrange(keys.job_events_key("waiting"), 0, -1)]
    update = events[-1]
    assert isinstance(update, QueuedEvent) and update.position == 3
    assert update.eta_s is not None and 11 <= update.eta_s <= 12
    assert store.start("waiting", 1, "w1").outcome == "started"
    assert not store.update_place("waiting", 1, 0, None, min_interval_s=0.0), "it has started"
    store.cancel("waiting")


def _no_workers(store: JobStore) -> dict:
    return {
        "now": time.time(),
        "aging_s": store.settings.priority_aging_s,
        "workers": [],
        "cost_tokens": {},
        "default_cost_tokens": 1,
    }


def test_lineup_each_job_costs_its_start_then_its_tokens() -> None:
    line = Line(
        rings={Priority.NORMAL: ["-"]},
        queues={(Priority.NORMAL, "-"): ["j1", "j2"]},
        waiting={Priority.NORMAL: {"j1": 1.0, "j2": 2.0}},
    )
    worker = Worker("w", tokens_per_s=50, free_at=0.0, start_s=0.5)
    slots = forecast(line, now=0.0, aging_s=60, workers=[worker], cost_tokens={"j1": 100}, default_cost_tokens=0)
    assert [s.start_at for s in slots] == [0.0, 2.5]
