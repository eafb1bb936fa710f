"""`/metrics` in Prometheus's text format.

Workers report through Redis (`shared.stats`, the heartbeat and RQ's own registries), so a
scrape of any one gateway covers the whole cluster; those figures are read afresh at each scrape
by `ClusterCollector`. Every gateway reports the same cluster figures: aggregate them with `max`,
not `sum`. Only the open SSE streams and the `process_*` figures belong to the gateway itself.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Gauge, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from redis import Redis
from redis.exceptions import RedisError
from rq import Worker
from rq.worker import WorkerStatus

from services.runtime import heartbeat
from services.runtime.heartbeat import INFERENCE, POSTPROC, LiveWorker, live_workers
from services.store.queues import rq_queue
from services.store.scheduler import Scheduler
from shared import keys, stats
from shared.settings import Settings

log = logging.getLogger(__name__)

NAMESPACE = "thinkstream"
WORKER_KINDS = (INFERENCE, POSTPROC)
INFERENCE_KIND = INFERENCE


class ClusterCollector(Collector):
    """Queues, jobs and workers as Redis holds them at the moment of the scrape."""

    def __init__(self, settings: Settings, redis: Redis) -> None:
        self._settings = settings
        self._redis = redis

    def collect(self) -> Iterable[Metric]:
        up = f"{NAMESPACE}_redis_up"
        try:
            workers = {kind: self._live(kind) for kind in WORKER_KINDS}
            inference = heartbeat.inference_workers(self._redis, self._settings.worker_ttl_s)
            families = [
                *self._queues(workers[INFERENCE_KIND], inference),
                *self._jobs(),
                *self._workers(workers),
                *_worker_load(inference),
            ]
        except RedisError as exc:
            # A scrape still answers, so the alert is "Redis down", not "gateway down".
            log.warning("metrics: Redis unreachable: %s", exc)
            yield GaugeMetricFamily(up, "1 if the gateway could read Redis.", value=0)
            return
        yield GaugeMetricFamily(up, "1 if the gateway could read Redis.", value=1)
        yield from families

    def _live(self, kind: str) -> list[str]:
        return live_workers(self._redis, kind, self._settings.worker_ttl_s)

    def _queues(self, inference_workers: list[str], holding: list[LiveWorker]) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            f"{NAMESPACE}_queue_depth",
            "Jobs waiting for a worker of each model, by priority (batch items are `low`).",
            labels=["model", "priority"],
        )
        per_model = GaugeMetricFamily(
            f"{NAMESPACE}_model_workers", "Live inference workers holding each model.", labels=["model"]
        )
        holders: dict[str, int] = {model.name: 0 for model in self._settings.catalog}
        for live in holding:
            holders[live.model] = holders.get(live.model, 0) + 1
        scheduler = Scheduler(self._redis, self._settings)
        for pool, count in holders.items():
            per_model.add_metric([pool], count)
            for priority, waiting in scheduler.waiting(pool).items():
                depth.add_metric([pool, priority.value], waiting)
        yield depth
        yield per_model
        with self._redis.pipeline(transaction=False) as pipe:
            for worker in inference_workers:
                pipe.llen(rq_queue(keys.worker_queue(worker), self._redis).key)
            pipe.llen(rq_queue(keys.POSTPROC_QUEUE, self._redis).key)
            pipe.hlen(keys.RUNNING_JOBS)
            *own, checks, running = pipe.execute()
        affinity = GaugeMetricFamily(
            f"{NAMESPACE}_affinity_queue_depth",
            "Conversation turns waiting for the worker that holds their KV state.",
            labels=["worker"],
        )
        for worker, count in zip(inference_workers, own, strict=True):
            affinity.add_metric([worker], count)
        yield affinity
        yield GaugeMetricFamily(f"{NAMESPACE}_checks_queue_depth", "Answers waiting for their checks.", value=checks)
        yield GaugeMetricFamily(
            f"{NAMESPACE}_jobs_running", "Jobs an inference worker is generating now.", value=running
        )

    def _jobs(self) -> Iterator[Metric]:
        figures = stats.read_job_stats(self._redis)
        finished = CounterMetricFamily(
            f"{NAMESPACE}_jobs_finished", "Jobs that reached the checks, by finish reason.", labels=["finish_reason"]
        )
        for reason, count in figures.finish_reasons.items():
            finished.add_metric([reason], count)
        yield finished
        failed = CounterMetricFamily(
            f"{NAMESPACE}_jobs_failed", "Jobs that ended with an error, by its code.", labels=["code"]
        )
        for code, count in figures.failures.items():
            failed.add_metric([code], count)
        yield failed
        verdicts = CounterMetricFamily(
            f"{NAMESPACE}_check_verdicts", "Check verdicts of finished jobs.", labels=["verdict"]
        )
        for verdict, count in figures.verdicts.items():
            verdicts.add_metric([verdict], count)
        yield verdicts
        tokens = CounterMetricFamily(f"{NAMESPACE}_tokens", "Tokens of finished jobs, by kind.", labels=["kind"])
        for kind, count in figures.tokens.items():
            tokens.add_metric([kind], count)
        yield tokens
        for histogram in figures.histograms:
            yield HistogramMetricFamily(
                f"{NAMESPACE}_{histogram.spec.name}",
                histogram.spec.help,
                buckets=[(floatToGoString(le), count) for le, count in histogram.cumulative()],  # type: ignore[no-untyped-call]
                sum_value=histogram.sum,
            )

    def _workers(self, workers: dict[str, list[str]]) -> Iterator[Metric]:
        live = GaugeMetricFamily(f"{NAMESPACE}_workers", "Workers with a fresh heartbeat.", labels=["kind"])
        info = GaugeMetricFamily(
            f"{NAMESPACE}_worker_info",
            "One per live worker; its labels describe it.",
            labels=["worker", "kind", "model"],
        )
        busy = GaugeMetricFamily(f"{NAMESPACE}_worker_busy", "1 while a worker runs a job.", labels=["worker", "kind"])
        for kind, ids in workers.items():
            live.add_metric([kind], len(ids))
            with self._redis.pipeline(transaction=False) as pipe:
                for worker_id in ids:
                    pipe.hget(keys.worker_key(worker_id), "model")
                models = pipe.execute()
            for worker_id, model in zip(ids, models, strict=True):
                is_busy = self._rq_state(worker_id) == WorkerStatus.BUSY
                info.add_metric([worker_id, kind, model.decode() if model else ""], 1)
                busy.add_metric([worker_id, kind], int(is_busy))
        yield from (live, info, busy)
        yield from _worker_counters(stats.read_worker_stats(self._redis, workers[INFERENCE_KIND]))

    def _rq_state(self, worker_id: str) -> str | None:
        # The heartbeat's worker id is also the RQ worker's name.
        worker = Worker.find_by_key(Worker.redis_worker_namespace_prefix + worker_id, connection=self._redis)
        return worker.get_state() if worker is not None else None


def _worker_load(workers: list[LiveWorker]) -> Iterator[Metric]:
    """What each inference worker's last heartbeat says it does (workers of a version that does
    not say are left out)."""
    labels = ["worker", "model"]
    slots = GaugeMetricFamily(f"{NAMESPACE}_worker_slots", "Jobs each inference worker can run at once.", labels=labels)
    in_use = GaugeMetricFamily(f"{NAMESPACE}_worker_slots_busy", "Jobs each inference worker runs now.", labels=labels)
    rate = GaugeMetricFamily(
        f"{NAMESPACE}_worker_tokens_per_second",
        "Tokens each inference worker generated per second over its last THINKSTREAM_STATUS_SAMPLE_INTERVAL_S.",
        labels=labels,
    )
    for worker in workers:
        if worker.load is not None:
            slots.add_metric([worker.worker_id, worker.model], worker.load.slots)
            in_use.add_metric([worker.worker_id, worker.model], worker.load.busy)
            rate.add_metric([worker.worker_id, worker.model], worker.load.tokens_per_s)
    yield from (slots, in_use, rate)


def _worker_counters(figures: dict[str, stats.WorkerStats]) -> Iterator[Metric]:
    jobs = CounterMetricFamily(f"{NAMESPACE}_worker_jobs", "Jobs each inference worker finished.", labels=["worker"])
    tokens = CounterMetricFamily(
        f"{NAMESPACE}_worker_generated_tokens", "Tokens each inference worker generated.", labels=["worker"]
    )
    busy = CounterMetricFamily(
        f"{NAMESPACE}_worker_busy_seconds", "Time each inference worker spent generating.", labels=["worker"]
    )
    for worker_id, row in figures.items():
        jobs.add_metric([worker_id], row.jobs)
        tokens.add_metric([worker_id], row.generated_tokens)
        busy.add_metric([worker_id], row.busy_seconds)
    yield from (jobs, tokens, busy)


class GatewayMetrics:
    """The gateway's metrics registry: cluster figures from Redis plus this process's own."""

    def __init__(self, settings: Settings, redis: Redis) -> None:
        # A registry per app rather than prometheus_client's global one, so that several apps
        # (tests) never share a gauge; auto_describe off so registering does not read Redis.
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(ClusterCollector(settings, redis))
        ProcessCollector(registry=self.registry)
        self._sse_clients = Gauge(
            f"{NAMESPACE}_sse_clients",
            "Server-Sent Events streams open on this gateway.",
            labelnames=["stream"],
            registry=self.registry,
        )

    @contextmanager
    def sse_client(self, stream: str) -> Iterator[None]:
        """Count an open SSE stream for as long as the block runs; use it inside the route's
        generator, around the loop that yields events:

            with metrics.sse_client("jobs"):
                async for item in ...:
                    yield ...
        """
        gauge = self._sse_clients.labels(stream=stream)
        gauge.inc()
        try:
            yield
        finally:
            gauge.dec()

    def render(self) -> bytes:
        """The whole registry in Prometheus's text format. Reads Redis: call it off the event loop."""
        return generate_latest(self.registry)
