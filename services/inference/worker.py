"""The inference worker: an RQ worker that keeps one model in memory for every job."""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import threading
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from llama_cpp import Llama
from redis import Redis
from rq import Queue
from rq.executions import Execution
from rq.job import Job
from rq.worker import WorkerStatus

from services.engine.model import ModelInfo, load_model, model_info
from services.engine.prompt import ChatPrompt
from services.inference.adapters import Adapters
from services.inference.batched_llama import LlamaBackend
from services.inference.context import InferenceContext, use_context
from services.inference.engine import LlamaEngine
from services.inference.kv_cache import PrefixStateCache
from services.inference.shared_prefix import shared_prefixes
from services.inference.slot_engine import SlotEngine, SlotPool
from services.inference.slot_worker import SlotWorker, default_slots
from services.inference.slots import Batcher
from services.inference.warmup import warm_up
from services.runtime.eager import EagerWorker
from services.runtime.heartbeat import Heartbeat
from services.runtime.load import LoadMeter
from services.runtime.logs import job_logging, worker_logging
from services.runtime.redis_client import connect_events
from services.runtime.serving import serve
from services.runtime.sweeper import Sweeper, hand_back
from services.store.jobs import JobStore
from services.store.queues import rq_queue
from services.store.scheduler import pool_queue_class
from services.store.tasks import SERIALIZER, TaskJob
from shared import keys
from shared.models import AdapterSpec, WorkerModel
from shared.settings import Settings

log = logging.getLogger(__name__)

KIND = "inference"
LLAMA_OBJECT_CTX = 256
RECORDS_WAIT_S = 0.25
"""Longest a single-slot worker holds RQ's records of a job back, waiting for its first text."""


class InferenceWorker(EagerWorker):
    """Runs jobs in its own process (RQ's default worker forks per job, which would reload or
    copy the model), with the worker's context current while each job runs.

    RQ's records of a job (`eager.py`) are written on a thread beside it, once the job has sent
    its first text (or ended, or after `RECORDS_WAIT_S`): written while the prompt was evaluated,
    their few milliseconds of Python and Redis on a 2-core node made the evaluation 5 ms
    slower (llama.cpp's threads wait for each other at every step, so a third thread on the
    cores stalls both). Only the worker's state (`busy`) is written at once: the gateway routes
    a conversation's next turn to a worker whose state is `idle`."""

    def __init__(self, *args: object, context: InferenceContext, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.context = context
        self._records = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rq-records")
        self._first_text = threading.Event()

    def execute_job(self, job: Job, queue: Queue) -> None:
        self._first_text.clear()
        records = self._records.submit(self._write_records_after_first_text, job)
        context = dataclasses.replace(self.context, first_text_sent=self._first_text.set)
        with use_context(context), context.load.job(), job_logging(job.id, worker=self.name):
            self.perform_eagerly(job, queue, records)
        self.set_state(WorkerStatus.IDLE)

    def job_returned(self) -> None:
        self._first_text.set()

    def _write_records_after_first_text(self, job: Job) -> Execution:
        self.set_state(WorkerStatus.BUSY)
        self._first_text.wait(RECORDS_WAIT_S)
        return self.write_records(job)

    def teardown(self) -> None:
        self._records.shutdown()
        super().teardown()  # type: ignore[no-untyped-call]

    def refresh_job_heartbeat(self) -> None:
        job, execution = self.get_current_job(), self.execution
        if job is not None and execution is not None:
            self.maintain_heartbeats(job, execution)


def run_worker(settings: Settings, redis: Redis, *, burst: bool = False) -> None:
    """Load the model (`settings.worker_spec()`) and its adapters once, then serve that model's
    inference jobs until stopped (SIGINT/SIGTERM)."""
    worker_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    events = connect_events(settings)
    spec = settings.worker_spec()
    n_ctx = spec.n_ctx or settings.n_ctx
    slots = settings.slots or default_slots(os.cpu_count() or 1, n_ctx)
    # A batched worker computes in a context of its own: the model's needs only a token of room.
    own_ctx = n_ctx if slots == 1 else LLAMA_OBJECT_CTX
    llm = load_model(
        spec.path, own_ctx, n_threads=settings.n_threads, n_batch=settings.n_batch, flash_attn=settings.flash_attn
    )
    info = model_info(llm, spec.name, spec.path, n_ctx)
    cache = PrefixStateCache(settings.kv_cache_mb << 20) if settings.kv_cache_mb else None
    slot_pool = _slot_pool(settings, llm, info, spec.adapters, cache, slots) if slots > 1 else None
    own_adapters = Adapters(llm, spec.adapters) if spec.adapters and slot_pool is None else None
    adapters = slot_pool.adapters if slot_pool is not None else own_adapters
    declared = WorkerModel(
        name=spec.name,
        file=str(spec.path),
        n_ctx=info.n_ctx,
        n_ctx_train=info.n_ctx_train,
        family=ChatPrompt(llm).family.name,
        aliases=spec.aliases,
        adapters=adapters.names if adapters else [],
    )
    log.info(
        "worker %s loaded %s (n_ctx=%d, slots=%d, adapters: %s)",
        worker_id,
        info.name,
        info.n_ctx,
        slots,
        declared.adapters,
    )
    context = InferenceContext(
        redis=redis,
        engine=slot_pool.engine() if slot_pool else LlamaEngine(llm, cache, adapters, settings.system_prompt),
        model=info,
        settings=settings,
        worker_id=worker_id,
        store=JobStore(redis, settings, events),
        # Its slots in use and tokens/s over the operators' page's sample interval.
        load=LoadMeter(slots=slots, window_s=settings.status_sample_interval_s),
    )
    # Its own queue (conversation affinity) first, then the pool of this model's queues, from
    # which the scheduler picks (priorities, fairness over API keys).
    queue_cls = pool_queue_class(context.store.scheduler)
    own = rq_queue(keys.worker_queue(worker_id), redis, cls=queue_cls, default_timeout=settings.job_timeout_s)
    pool = rq_queue(keys.pool_queue(info.name), redis, cls=queue_cls, default_timeout=settings.job_timeout_s)
    options: dict[str, Any] = {"pool": slot_pool} if slot_pool else {}
    worker = (SlotWorker if slot_pool else InferenceWorker)(
        [own, pool],
        connection=redis,
        name=worker_id,
        context=context,
        job_class=TaskJob,
        serializer=SERIALIZER,
        queue_class=queue_cls,
        **options,
    )
    if settings.warm_up:
        warm_up(context.engine, settings.system_prompt)  # before the first heartbeat: /readyz waits for it
        if isinstance(context.engine, SlotEngine):
            context.engine.finish()
    heartbeat = Heartbeat(
        redis,
        kind=KIND,
        worker_id=worker_id,
        info={
            "model": info.name,
            "n_ctx": info.n_ctx,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "declaration": declared.model_dump_json(),
            "slots": slots,
        },
        # The adapter it computes with now: the gateway sends a job to an idle worker already on
        # the job's adapter.
        status=lambda: {
            "adapter": adapters.active.scope if adapters and adapters.active else "",
            "slots_busy": worker.busy_slots if isinstance(worker, SlotWorker) else int(worker.execution is not None),
        },
        interval_s=settings.heartbeat_interval_s,
        ttl_s=settings.worker_ttl_s,
        load=context.load,
        during_job=worker.refresh_job_heartbeat,
        housekeeping=Sweeper(redis, settings, events).sweep,
    )
    with worker_logging(worker_id), heartbeat:
        try:
            serve(worker, redis, burst=burst, logging_level=settings.log_level)
        finally:
            hand_back(own, context.store)
            if slot_pool is not None:
                slot_pool.close()
    log.info("worker %s stopped", worker_id)


def _slot_pool(
    settings: Settings,
    llm: Llama,
    info: ModelInfo,
    adapter_specs: Sequence[AdapterSpec],
    cache: PrefixStateCache | None,
    slots: int,
) -> SlotPool:
    """The batched context of `slots` sequences and what its jobs share."""
    threads = settings.n_threads or os.cpu_count() or 1
    backend = LlamaBackend(llm, n_seq=slots, n_ctx_seq=info.n_ctx, n_batch=settings.n_batch, n_threads=threads)
    adapters = Adapters(llm, adapter_specs, backend.ctx) if adapter_specs else None
    prompt = ChatPrompt(llm)
    batcher = Batcher(
        backend,
        chunk_tokens=settings.slot_chunk_tokens,
        shared_prefixes=shared_prefixes(prompt.tokens, settings.system_prompt),
    )
    return SlotPool(batcher, backend, prompt, cache, adapters)
