"""A batched worker's RQ state and records, where they take effect: the state the gateway's
affinity routing reads says `busy` once every slot is taken, and RQ's records of a job wait
for its first text."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from rq.registry import StartedJobRegistry

from services.engine.model import ModelInfo
from services.inference.context import InferenceContext
from services.inference.slot_worker import SlotWorker
from services.runtime.load import LoadMeter
from services.store.jobs import JobStore, rq_id_of
from services.store.queues import rq_queue
from services.store.scheduler import pool_queue_class
from services.store.tasks import SERIALIZER, TaskJob
from shared import keys
from shared.schemas import ChatMessage
from tests.support.fake_engine import ScriptedEngine
from tests.unit.gateway.conftest import Harness

SCRIPT = ["Six ", "sevens", " are", " 42.", "</think>", "\n\n", "42"]


class HeldEngine(ScriptedEngine):
    """A slot's engine: reading its prompt waits until the test lets the jobs go on."""

    def __init__(self, seen: list[str], go_on: threading.Event) -> None:
        super().__init__(SCRIPT)
        self._seen, self._go_on = seen, go_on

    def prompt_tokens(self, messages: Sequence[ChatMessage]) -> list[int]:
        self._seen.append(messages[-1].content)
        self._go_on.wait(timeout=5)
        return super().prompt_tokens(messages)

    def finish(self) -> None:
        pass


class TwoSlots:
    n_slots = 2

    def __init__(self, seen: list[str], go_on: threading.Event) -> None:
        self._seen, self._go_on = seen, go_on

    def engine(self) -> HeldEngine:
        return HeldEngine(self._seen, self._go_on)


def wait_for(condition: Any, timeout_s: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return bool(condition())


def test_slot_worker_says_busy_with_every_slot_taken_and_records_jobs_after_their_first_text(
    tmp_path: Path,
) -> None:
    harness = Harness(tmp_path, stream_flush_ms=0)
    store = JobStore(harness.redis, harness.settings)
    context = InferenceContext(
        redis=harness.redis,
        engine=ScriptedEngine(SCRIPT),
        model=ModelInfo(name="fake", path=Path("fake.gguf"), n_ctx=64, n_ctx_train=64),
        settings=harness.settings,
        worker_id="slots",
        store=store,
        load=LoadMeter(slots=2, window_s=5),
    )
    seen: list[str] = []
    go_on = threading.Event()
    pool_class = pool_queue_class(store.scheduler)
    worker = SlotWorker(
        [rq_queue(keys.pool_queue(harness.pool), harness.redis, cls=pool_class)],
        connection=harness.redis,
        name="slots",
        context=context,
        pool=TwoSlots(seen, go_on),  # type: ignore[arg-type]
        queue_class=pool_class,
        job_class=TaskJob,
        serializer=SERIALIZER,
    )

    def state() -> bytes | None:
        return harness.redis.hget(worker.key, "state")

    def rq_status(job_id: str) -> bytes | None:
        return harness.redis.hget(TaskJob.key_for(rq_id_of(job_id, 1)), "status")

    seen_running: list[tuple[Any, ...]] = []

    def watch(job_ids: list[str]) -> None:
        if wait_for(lambda: len(seen) == 2):
            seen_running.append((wait_for(lambda: state() == b"busy") and state(), *map(rq_status, job_ids)))
        go_on.set()

    with TestClient(harness.app) as client:
        job_ids = [client.post("/v1/jobs", json={"prompt": p}).json()["id"] for p in ("6 x 7?", "7 x 6?")]
        watcher = threading.Thread(target=watch, args=(job_ids,))
        watcher.start()
        worker.work(burst=True)  # RQ's loop needs the main thread (signals)
        watcher.join()
        jobs = [client.get(f"/v1/jobs/{job_id}").json() for job_id in job_ids]

    assert seen_running == [(b"busy", b"queued", b"queued")], (
        "both slots taken: busy; RQ's records wait for each job's first text"
    )
    assert [job["status"] for job in jobs] == ["checking", "checking"], "answered (the checks come next)"
    queue = next(iter(harness.redis.smembers("rq:queues"))).decode().removeprefix("rq:queue:")
    assert StartedJobRegistry(queue, connection=harness.redis).get_job_ids() == [], "RQ closed its records"
