"""The inference worker's load, where it takes effect: a job fills a slot while it runs, and every
token it generates is counted, as it comes, for the heartbeat."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from redis.client import Pipeline
from rq.executions import Execution
from rq.job import Job
from rq.queue import Queue
from rq.registry import StartedJobRegistry
from rq.worker.base import BaseWorker

from services.inference.engine import Sampling
from services.inference.worker import InferenceWorker
from services.runtime.load import LoadMeter
from services.store.jobs import rq_id_of
from services.store.tasks import TaskJob
from shared import keys
from shared.schemas import ChatMessage
from shared.worker_load import WorkerLoad
from tests.support.fake_engine import ScriptedEngine
from tests.unit.gateway.conftest import Harness

SCRIPT = ["Six ", "sevens", " are", " 42.", "</think>", "\n\n", "42"]


class WatchedEngine(ScriptedEngine):
    """Takes a reading of the worker's load after the third token of each script."""

    def __init__(self, load: LoadMeter, *scripts: Sequence[str]) -> None:
        super().__init__(*scripts)
        self.load = load
        self.during: list[WorkerLoad] = []

    def stream(self, tokens: Sequence[int], sampling: Sampling) -> Iterator[tuple[int, str]]:
        for index, token in enumerate(super().stream(tokens, sampling)):
            if index == 3:
                self.during.append(self.load.reading())
            yield token


def test_worker_load_counts_its_running_job_and_every_streamed_token(tmp_path: Path) -> None:
    harness = Harness(tmp_path, stream_flush_ms=0)
    load = LoadMeter(slots=1, window_s=5)
    engine = WatchedEngine(load, SCRIPT, SCRIPT)
    with TestClient(harness.app) as client:
        ids = [client.post("/v1/jobs", json={"prompt": prompt}).json()["id"] for prompt in ("6 x 7?", "7 x 6?")]
        harness.run_worker(engine, load=load)
        jobs = [client.get(f"/v1/jobs/{job_id}").json() for job_id in ids]

    assert [job["status"] for job in jobs] == ["succeeded", "succeeded"]
    assert [(r.slots, r.busy) for r in engine.during] == [(1, 1), (1, 1)], "each job was in the slot while it ran"
    after = load.reading()
    assert after.busy == 0
    streamed = sum(job["usage"]["reasoning_tokens"] + job["usage"]["answer_tokens"] for job in jobs)
    assert after.generated_tokens == streamed == 2 * len(SCRIPT)
    assert [r.generated_tokens for r in engine.during] == [3, len(SCRIPT) + 3], "counted as they come"


def test_worker_writes_rqs_records_of_a_job_after_its_first_text_and_says_busy_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RQ's records of a job wait until the job has sent its first text (off the cores while the
    prompt is evaluated); the worker's RQ state says `busy` while the prompt is read (the
    gateway's affinity routing reads it); RQ's records of the job's end come after its records,
    as in RQ's order."""
    harness = Harness(tmp_path, stream_flush_ms=0)
    at_prompt: list[tuple[bytes | None, bytes | None]] = []
    events_at_records: list[list[str]] = []
    write_records = InferenceWorker.write_records

    def recording(worker: InferenceWorker, job: Job) -> Execution:
        logged = harness.redis.lrange(keys.job_events_key(job_id), 0, -1)
        events_at_records.append([json.loads(raw)["type"] for raw in logged])
        return write_records(worker, job)

    def worker_state() -> bytes | None:
        (worker_key,) = harness.redis.smembers("rq:workers")
        return harness.redis.hget(worker_key, "state")

    class Watching(ScriptedEngine):
        def prompt_tokens(self, messages: Sequence[ChatMessage]) -> list[int]:
            deadline = time.monotonic() + 2
            while worker_state() != b"busy" and time.monotonic() < deadline:
                time.sleep(0.01)
            job_status = harness.redis.hget(TaskJob.key_for(rq_id_of(job_id, 1)), "status")
            at_prompt.append((job_status, worker_state()))
            return super().prompt_tokens(messages)

    monkeypatch.setattr(InferenceWorker, "write_records", recording)
    with TestClient(harness.app) as client:
        job_id = client.post("/v1/jobs", json={"prompt": "6 x 7?"}).json()["id"]
        harness.run_worker(Watching(SCRIPT))
        job = client.get(f"/v1/jobs/{job_id}").json()

    assert at_prompt == [(b"queued", b"busy")], "the prompt was read before RQ's records, the worker busy"
    (before_records,) = events_at_records
    assert "reasoning" in before_records, f"RQ's records were written before the first text: {before_records}"
    assert job["status"] == "succeeded" and job["answer"] == "42"
    queue = next(iter(harness.redis.smembers("rq:queues"))).decode().removeprefix("rq:queue:")
    assert StartedJobRegistry(queue, connection=harness.redis).get_job_ids() == [], "RQ closed its records"


def test_worker_sends_no_heartbeat_between_taking_a_job_and_reading_its_prompt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RQ heartbeats the worker right after it takes a job, before calling it (a round trip before
    the prompt); the job's records heartbeat it soon after, so that one is left out."""
    harness = Harness(tmp_path, stream_flush_ms=0)
    seen: list[str] = []
    heartbeat, reorder_queues, records = (
        BaseWorker.heartbeat,
        BaseWorker.reorder_queues,
        BaseWorker.prepare_job_execution,
    )

    def beat(worker: BaseWorker, timeout: int | None = None, pipeline: Pipeline | None = None) -> None:
        seen.append("heartbeat")
        heartbeat(worker, timeout, pipeline)

    def recorded(worker: BaseWorker, job: Job, remove_from_intermediate_queue: bool = False) -> None:
        seen.append("records")
        records(worker, job, remove_from_intermediate_queue)

    def taken(worker: BaseWorker, reference_queue: Queue) -> None:
        seen.append("job taken")
        reorder_queues(worker, reference_queue)

    class Watching(ScriptedEngine):
        def prompt_tokens(self, messages: Sequence[ChatMessage]) -> list[int]:
            seen.append("prompt read")
            return super().prompt_tokens(messages)

    monkeypatch.setattr(BaseWorker, "heartbeat", beat)
    monkeypatch.setattr(BaseWorker, "reorder_queues", taken)
    monkeypatch.setattr(BaseWorker, "prepare_job_execution", recorded)
    with TestClient(harness.app) as client:
        job_id = client.post("/v1/jobs", json={"prompt": "6 x 7?"}).json()["id"]
        harness.run_worker(Watching(SCRIPT))
        assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "succeeded"

    after = seen[seen.index("job taken") + 1 :]
    assert after[0] == "prompt read", f"a heartbeat came between the take and the prompt: {seen}"
    assert after[1:3] == ["records", "heartbeat"], f"the records did not heartbeat the worker: {seen}"
    assert seen[: seen.index("job taken")].count("heartbeat") >= 1, "the heartbeats while waiting are still sent"


def test_worker_heartbeat_is_one_round_trip(tmp_path: Path) -> None:
    """RQ sends its heartbeat's three commands one by one; the worker sends them together, and
    they still keep the worker's key alive."""
    harness = Harness(tmp_path)
    worker = InferenceWorker([], connection=harness.redis, name="w-beat", context=None)  # type: ignore[arg-type]
    sent: list[int] = []
    real = harness.redis.connection_pool.get_connection

    def counting(*args: object, **kwargs: object) -> object:
        sent.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    harness.redis.connection_pool.get_connection = counting  # type: ignore[method-assign]
    worker.heartbeat()
    assert len(sent) == 1, f"{len(sent)} round trips"
    assert harness.redis.hget(worker.key, "last_heartbeat") is not None
    assert 0 < harness.redis.ttl(worker.key) <= worker.worker_ttl + 60
