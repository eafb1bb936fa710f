"""`GET /v1/status` and its history: what the operators' page at /status shows."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import fakeredis
import pytest
from fastapi.testclient import TestClient
from redis.exceptions import ConnectionError as RedisConnectionError

from services.gateway.status import Snapshot
from services.gateway.status_history import StatusHistory, StatusSampler
from services.runtime.heartbeat import Heartbeat
from services.runtime.load import LoadMeter
from shared import keys
from shared.apikeys import key_digest, new_key
from shared.models import WorkerModel
from shared.settings import Settings
from shared.status_api import StatusReport, StatusSample
from tests.unit.gateway.conftest import Harness

KEY_TENANT, KEY_OPS = new_key(), new_key()
HASHES = f"tenant:{key_digest(KEY_TENANT)},ops:{key_digest(KEY_OPS)}"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeWorker:
    """An inference worker's heartbeat and load meter, as a real worker has them."""

    def __init__(self, harness: Harness, worker_id: str, model: str, slots: int = 1) -> None:
        self.clock = Clock()
        self.load = LoadMeter(slots=slots, window_s=5, clock=self.clock)
        declared = WorkerModel(name=model, file=f"/models/{model}.gguf", n_ctx=64)
        self.heartbeat = Heartbeat(
            harness.redis,
            kind="inference",
            worker_id=worker_id,
            info={"model": model, "declaration": declared.model_dump_json()},
            interval_s=60,
            ttl_s=10,
            load=self.load,
        )
        self.heartbeat.beat()


@pytest.fixture
def status_harness(make_harness: Callable[..., Harness]) -> Harness:
    # The app's own sampler takes one point at start-up, then none during a test.
    return make_harness(status_sample_interval_s=3600)


@pytest.fixture
def status_client(status_harness: Harness) -> Iterator[TestClient]:
    with TestClient(status_harness.app) as test_client:
        deadline = time.monotonic() + 5
        while not status_harness.redis.llen(keys.STATUS_HISTORY_KEY):
            assert time.monotonic() < deadline, "the gateway took no sample at start-up"
            time.sleep(0.01)
        yield test_client


def report(client: TestClient, headers: dict[str, str] | None = None) -> StatusReport:
    response = client.get("/v1/status", headers=headers or {})
    assert response.status_code == 200, response.text
    return StatusReport.model_validate(response.json())


def submit(client: TestClient, priority: str = "normal") -> str:
    accepted = client.post("/v1/jobs", json={"prompt": "What is 2 + 2?", "priority": priority})
    assert accepted.status_code == 202, accepted.text
    return str(accepted.json()["id"])


def start_next(harness: Harness, worker_id: str) -> str:
    """A worker takes the next job of the default model, as a real one does."""
    store = harness.app.state.jobs.store
    picked = store.scheduler.pick(harness.pool)
    assert picked is not None
    job_id = str(picked[1])
    assert store.start(job_id, 1, worker_id).outcome == "started"
    return job_id


def sample(client: TestClient, harness: Harness) -> None:
    """Record a point now, as the replica holding the lease does."""
    snapshot: Snapshot = client.portal.call(harness.app.state.status.snapshot)  # type: ignore[union-attr]
    harness.app.state.status_history.record(snapshot.sample())


def test_status_reports_workers_queues_and_jobs_in_flight(status_client: TestClient, status_harness: Harness) -> None:
    pool = status_harness.pool
    busy, idle = FakeWorker(status_harness, "w-busy", pool), FakeWorker(status_harness, "w-idle", pool)
    for priority in ("normal", "normal", "high", "low"):
        submit(status_client, priority)
    started = start_next(status_harness, "w-busy")  # the high-priority job goes first
    with busy.load.job():
        busy.heartbeat.beat()
        status = report(status_client)
    idle.heartbeat.beat()

    workers = {w.id: w for w in status.workers}
    assert set(workers) == {"w-busy", "w-idle"}
    assert (workers["w-busy"].model, workers["w-busy"].slots, workers["w-busy"].busy) == (pool, 1, 1)
    assert (workers["w-idle"].slots, workers["w-idle"].busy) == (1, 0)
    assert 0 <= workers["w-busy"].beat_age_s < 5
    (model,) = status.models
    assert model.name == pool
    assert model.waiting_by_priority == {"high": 0, "normal": 2, "low": 1}
    assert (model.waiting, model.running, model.workers, model.slots, model.busy) == (3, 1, 2, 2, 1)
    assert status.jobs_running == 1
    (job,) = status.jobs
    assert (job.id, job.model, job.worker, job.priority, job.origin, job.attempt) == (
        started,
        pool,
        "w-busy",
        "high",
        "interactive",
        1,
    )
    assert job.running_s is not None and 0 <= job.running_s < 5
    assert status.checks_waiting == 0


def test_status_a_worker_with_several_slots_and_one_that_reports_no_load(
    status_client: TestClient, status_harness: Harness
) -> None:
    """A batching worker says how many jobs it runs at once and how many it runs now; a worker of
    an older version has one slot, busy while it holds a job."""
    batching = FakeWorker(status_harness, "w-batch", status_harness.pool, slots=4)
    status_harness.declare_worker("w-old", status_harness.pool)
    submit(status_client)
    start_next(status_harness, "w-old")
    with batching.load.job(), batching.load.job(), batching.load.job():
        batching.heartbeat.beat()

    status = report(status_client)
    assert {w.id: (w.slots, w.busy, w.tokens_per_s) for w in status.workers} == {
        "w-batch": (4, 3, 0.0),
        "w-old": (1, 1, None),
    }
    assert (status.models[0].slots, status.models[0].busy) == (5, 4)


def test_status_shows_each_workers_tokens_per_s_and_their_sum(
    status_client: TestClient, status_harness: Harness
) -> None:
    pool = status_harness.pool
    one, two = FakeWorker(status_harness, "w1", pool), FakeWorker(status_harness, "w2", pool)
    for worker, tokens in ((one, 450), (two, 150)):
        worker.clock.now += 5
        worker.load.generated(tokens)
        worker.heartbeat.beat()
    sample(status_client, status_harness)

    status = report(status_client)
    assert {w.id: w.tokens_per_s for w in status.workers} == {"w1": 90.0, "w2": 30.0}
    assert status.models[0].tokens_per_s == 120.0
    assert status.history[-1].tokens_per_s == 120.0

    one.clock.now += 6  # idle for a window
    one.heartbeat.beat()
    sample(status_client, status_harness)
    assert report(status_client).history[-1].tokens_per_s == 30.0


def test_status_history_records_queue_depth_and_jobs_in_flight(
    status_client: TestClient, status_harness: Harness
) -> None:
    FakeWorker(status_harness, "w1", status_harness.pool)
    for _ in range(3):
        submit(status_client)
    sample(status_client, status_harness)
    start_next(status_harness, "w1")
    sample(status_client, status_harness)

    history = report(status_client).history
    assert [(s.waiting, s.running) for s in history[-2:]] == [(3, 0), (2, 1)]
    assert history[-2].at <= history[-1].at


def test_status_lists_the_longest_running_jobs_first(status_client: TestClient, status_harness: Harness) -> None:
    FakeWorker(status_harness, "w1", status_harness.pool, slots=2)
    first = submit(status_client)
    submit(status_client)
    start_next(status_harness, "w1")
    time.sleep(0.2)
    start_next(status_harness, "w1")
    jobs = report(status_client).jobs
    assert jobs[0].id == first
    assert jobs[0].running_s is not None and jobs[1].running_s is not None
    assert jobs[0].running_s >= jobs[1].running_s + 0.1


def test_status_lists_a_model_only_a_worker_declares(status_client: TestClient, status_harness: Harness) -> None:
    FakeWorker(status_harness, "w-other", "other-model")
    status = report(status_client)
    assert [m.name for m in status.models] == [status_harness.pool, "other-model"]
    assert [(m.workers, m.slots) for m in status.models] == [(0, 0), (1, 1)]


def history_settings(tmp_path: Path, **overrides: float) -> Settings:
    return Settings(redis_url="redis://fake", data_dir=tmp_path, **overrides)  # type: ignore[arg-type]


def point(at: float, waiting: int = 0) -> StatusSample:
    return StatusSample(at=at, tokens_per_s=0.0, waiting=waiting, running=0)


def test_status_history_is_one_series_for_every_replica(tmp_path: Path) -> None:
    """Two gateways on one Redis: one records the points (a lease), both serve the same series,
    and the other takes over when the first stops renewing its lease."""
    redis = fakeredis.FakeRedis()
    settings = history_settings(tmp_path, status_sample_interval_s=0.2)
    one, two = StatusHistory(redis, settings), StatusHistory(redis, settings)
    snapshots = iter(range(100))

    async def snapshot() -> Snapshot:
        return Snapshot(time.time(), [], {}, {"m": {"normal": next(snapshots)}}, {}, {}, 0, 0)

    sampler_one, sampler_two = StatusSampler(one, snapshot, settings), StatusSampler(two, snapshot, settings)

    async def rounds() -> list[StatusSample | None]:
        taken = [await sampler_one.tick(), await sampler_two.tick(), await sampler_one.tick()]
        await asyncio.sleep(0.2 * 3 + 0.1)  # the holder stopped: its lease runs out
        return [*taken, await sampler_two.tick(), await sampler_one.tick()]

    taken = asyncio.run(rounds())
    assert [s is not None for s in taken] == [True, False, True, True, False]
    now = time.time() + 1
    assert one.samples(now) == two.samples(now)
    assert [s.waiting for s in two.samples(now)] == [0, 1, 2]


def test_status_history_keeps_only_its_window(tmp_path: Path) -> None:
    redis = fakeredis.FakeRedis()
    history = StatusHistory(redis, history_settings(tmp_path, status_sample_interval_s=1, status_history_s=10))
    now = time.time()
    for index in range(30):
        history.record(point(now - 29 + index, waiting=index))
    assert redis.llen(keys.STATUS_HISTORY_KEY) == 11, "the list is trimmed to the window"
    assert [s.waiting for s in history.samples(now)] == list(range(19, 30))
    assert [s.waiting for s in history.samples(now + 5)] == list(range(24, 30)), "older points are not shown"
    assert 0 < redis.ttl(keys.STATUS_HISTORY_KEY) <= 10, "with no gateway left, the series goes"


def test_status_is_for_operator_keys_only(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(api_key_hashes=HASHES, operator_keys=["ops"], failed_keys_per_minute=100)
    with TestClient(harness.app) as client:
        anonymous = client.get("/v1/status")
        tenant = client.get("/v1/status", headers={"Authorization": f"Bearer {KEY_TENANT}"})
        operator = client.get("/v1/status", headers={"Authorization": f"Bearer {KEY_OPS}"})
        page = client.get("/status")
        assets = [client.get(f"/static/{name}") for name in ("status.js", "plot.js", "status.css", "key.js")]
    assert anonymous.status_code == 401
    assert tenant.status_code == 403
    assert "THINKSTREAM_OPERATOR_KEYS" in tenant.json()["error"]["message"]
    assert operator.status_code == 200 and StatusReport.model_validate(operator.json())
    # The page's files hold no data: they load without a key, under the main page's policy.
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert all(asset.status_code == 200 for asset in assets)


def test_status_without_redis_is_503_saying_so(
    status_client: TestClient, status_harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise RedisConnectionError("connection refused")

    monkeypatch.setattr(status_harness.redis, "pipeline", refuse)
    response = status_client.get("/v1/status")
    assert response.status_code == 503
    assert "cannot read Redis" in response.json()["error"]["message"]
    assert response.headers["retry-after"] == "5"
