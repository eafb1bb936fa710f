"""The heartbeat carries a worker's load, and the gateway's readers get it back as the worker wrote it."""

from __future__ import annotations

import asyncio
import time

import fakeredis
import pytest

from services.runtime.heartbeat import INFERENCE, Heartbeat, inference_workers, inference_workers_async
from services.runtime.load import LoadMeter
from shared import keys
from shared.models import WorkerModel


def heartbeat(redis: fakeredis.FakeRedis, worker_id: str, load: LoadMeter | None) -> Heartbeat:
    declared = WorkerModel(name="m", file="/models/m.gguf", n_ctx=64)
    info = {"model": "m", "declaration": declared.model_dump_json()}
    return Heartbeat(redis, kind=INFERENCE, worker_id=worker_id, info=info, interval_s=60, ttl_s=10, load=load)


def test_heartbeat_reports_the_workers_load() -> None:
    server = fakeredis.FakeServer()
    redis = fakeredis.FakeRedis(server=server)
    meter = LoadMeter(slots=2, window_s=5)
    beat = heartbeat(redis, "w1", meter)
    with meter.job():
        meter.generated(42)
        before = time.time()
        beat.beat()

    (worker,) = inference_workers(redis, ttl_s=10)
    assert worker.load is not None
    assert (worker.load.slots, worker.load.busy, worker.load.generated_tokens) == (2, 1, 42)
    assert worker.load.tokens_per_s > 0
    assert before <= worker.beat_at <= time.time()
    (seen,) = asyncio.run(inference_workers_async(fakeredis.FakeAsyncRedis(server=server), ttl_s=10))
    assert seen == worker, "the gateway's asynchronous reader sees the same"

    beat.beat()  # the job has left its slot
    assert inference_workers(redis, ttl_s=10)[0].load.busy == 0  # type: ignore[union-attr]


def test_heartbeat_of_a_worker_that_reports_no_load_is_read_without_one(caplog: pytest.LogCaptureFixture) -> None:
    redis = fakeredis.FakeRedis()
    heartbeat(redis, "old", None).beat()
    heartbeat(redis, "odd", None).beat()
    redis.hset(keys.worker_key("odd"), "load", '{"slots": 0}')
    workers = {w.worker_id: w for w in inference_workers(redis, ttl_s=10)}
    assert workers["old"].load is None and workers["odd"].load is None
    assert "worker odd reports its load in a form this version cannot read" in caplog.text


def test_heartbeat_goes_on_when_refreshing_a_job_fails(caplog: pytest.LogCaptureFixture) -> None:
    redis = fakeredis.FakeRedis()
    refreshed = []

    def job_just_ended() -> None:  # as RQ's get_current_job() for a job whose record is gone
        refreshed.append(time.time())
        raise RuntimeError("No such job: rq:job:gone")

    beats = Heartbeat(
        redis, kind=INFERENCE, worker_id="w", info={"model": "m"}, interval_s=0.05, ttl_s=10, during_job=job_just_ended
    )
    with beats:
        time.sleep(0.3)
        first = redis.zscore(keys.live_workers_key(INFERENCE), "w")
        time.sleep(0.3)
        later = redis.zscore(keys.live_workers_key(INFERENCE), "w")
    assert len(refreshed) >= 3  # tried again at every beat
    assert first is not None and later is not None and later > first  # the worker's own beat went on
    assert "the worker's goes on" in caplog.text
