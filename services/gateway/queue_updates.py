"""Queue updates: while a job waits, its stream hears where it stands and when it should start.

Once a second, one gateway replica (a short lease in Redis decides which) takes each pool's line
(`store.lineup`), forecasts it from the live workers' pace and the token budgets of the jobs
running and waiting, and sends a `queued` event to every waiting job whose position changed, or
whose expected start moved by more than `DRIFT_MIN_S` and `DRIFT_SHARE` of the time left (so a
countdown that went wrong is put right). The job store writes the event, only while the job
still waits, and at most once per `queue_update_interval_s`.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence

import anyio
from redis import Redis
from redis.exceptions import RedisError

from services.runtime.heartbeat import INFERENCE, live_workers
from services.store.jobs import JobStore
from services.store.lineup import Slot, Worker, forecast, job_of, read_line
from shared import keys, stats
from shared.schemas import JobSpec
from shared.settings import Settings

log = logging.getLogger(__name__)

DRIFT_MIN_S = 2.0
DRIFT_SHARE = 0.25
"""An expected start that moved by more than both of these (seconds; share of the time that was
left) is sent again, even at the same position."""


class QueueUpdates:
    def __init__(self, store: JobStore, settings: Settings, pools: Callable[[], Iterable[str]]) -> None:
        """`pools`: the models whose queues to follow (asked each round: a gateway learns of a
        model when a worker declares it)."""
        self._store = store
        self._redis: Redis = store.redis
        self._records: Redis = store.events
        """The jobs' own records (on the event plane)."""
        self._settings = settings
        self._pools = pools
        self._holder = uuid.uuid4().hex
        self._budgets: dict[str, int] = {}
        """max_tokens of the jobs seen in the line or running, by job id (read once each)."""
        self._seen: set[str] = set()

    async def run(self) -> None:
        """Send updates every `queue_update_interval_s` until cancelled; an error is logged and
        the next round tries again."""
        interval_s = self._settings.queue_update_interval_s
        while True:
            began = time.monotonic()
            try:
                await anyio.to_thread.run_sync(self.tick)
            except RedisError as exc:
                log.warning("queue updates skipped a round: %s", exc)
            except Exception:
                log.exception("queue updates failed")
            await anyio.sleep(max(interval_s - (time.monotonic() - began), 0.05))

    def tick(self) -> int:
        """One round over every pool; returns how many updates were sent."""
        sent = 0
        self._seen = set()
        for pool in sorted(self._pools()):
            if not self._hold_lease(pool):
                continue  # another replica sends this pool's updates this round
            sent += self._update_pool(pool)
        for job_id in [job_id for job_id in self._budgets if job_id not in self._seen]:
            del self._budgets[job_id]
        return sent

    def _hold_lease(self, pool: str) -> bool:
        lease_key = keys.queue_updates_lease_key(pool)
        lease_ms = max(int(self._settings.queue_update_interval_s * 900), 1)
        if self._redis.set(lease_key, self._holder, nx=True, px=lease_ms):
            return True
        return bool(self._redis.get(lease_key) == self._holder.encode())

    def _update_pool(self, pool: str) -> int:
        line = read_line(self._redis, pool)
        if not len(line):
            return 0
        now = time.time()
        running = self._running(pool)
        self._learn_budgets([job_of(rq_id)[0] for queue in line.queues.values() for rq_id in queue] + list(running))
        fill = stats.budget_fill(self._redis) or 1.0
        slots = forecast(
            line,
            now=now,
            aging_s=self._settings.priority_aging_s,
            workers=self._workers(pool, running, fill, now),
            cost_tokens={
                rq_id: self._expected_tokens(job_of(rq_id)[0], fill)
                for queue in line.queues.values()
                for rq_id in queue
            },
            default_cost_tokens=fill * self._settings.default_max_tokens,
        )
        return self._announce(slots, now)

    def _announce(self, slots: Sequence[Slot], now: float) -> int:
        with self._records.pipeline(transaction=False) as pipe:
            for slot in slots:
                job_id, _ = job_of(slot.rq_id)
                pipe.hmget(keys.job_key(job_id), ["line_position", "line_start_at"])
                pipe.lindex(keys.job_events_key(job_id), 0)
            replies = pipe.execute()
        sent = 0
        for index, slot in enumerate(slots):
            (position_raw, start_raw), first = replies[2 * index], replies[2 * index + 1]
            if position_raw is not None:
                before = int(position_raw)
            elif first is not None:
                before = int(json.loads(first).get("position", -1))  # the place given at acceptance
            else:
                continue  # the job has expired
            start_before = float(start_raw) if start_raw else None
            if slot.position == before and not _moved(start_before, slot.start_at, now):
                continue
            job_id, run = job_of(slot.rq_id)
            if self._store.update_place(
                job_id, run, slot.position, slot.start_at, min_interval_s=self._settings.queue_update_interval_s
            ):
                sent += 1
        return sent

    def _running(self, pool: str) -> dict[str, str]:
        """Job id → worker id of the jobs running on this pool's workers."""
        pool_workers = set(self._pool_workers(pool))
        table = self._redis.hgetall(keys.RUNNING_JOBS).items()
        return {job.decode(): worker.decode() for job, worker in table if worker.decode() in pool_workers}

    def _pool_workers(self, pool: str) -> dict[str, int]:
        """The pool's live workers and how many jobs each runs at once (its slots)."""
        alive = live_workers(self._redis, INFERENCE, self._settings.worker_ttl_s)
        with self._redis.pipeline(transaction=False) as pipe:
            for worker_id in alive:
                pipe.hmget(keys.worker_key(worker_id), ["model", "slots"])
            replies = pipe.execute()
        return {
            worker: max(int(slots or 1), 1)
            for worker, (model, slots) in zip(alive, replies, strict=True)
            if model == pool.encode()
        }

    def _workers(self, pool: str, running: Mapping[str, str], fill: float, now: float) -> list[Worker]:
        """The pool's live workers with their pace and when each comes free: a busy one when its
        job has used its expected share of its budget (past that, half way to the rest). A
        worker with K slots (continuous batching) is K lanes, each running one job.

        A job costs a worker a start (prompt evaluation: the mean so far) plus its tokens at the
        worker's decode pace: its generated tokens over its busy time less those starts. (One
        pace per busy second, starts included, would make short jobs look slow and long ones
        overestimated.) A batched worker's figures add up each job's own time, so its pace is
        one sequence's, at the load it ran at."""
        pool_workers = self._pool_workers(pool)
        figures = stats.read_worker_stats(self._redis, list(pool_workers))
        start_s = stats.mean_prompt_s(self._redis) or 0.0
        paces = {
            worker_id: figure.generated_tokens / (figure.busy_seconds - figure.jobs * start_s)
            for worker_id, figure in figures.items()
            if figure.jobs and figure.generated_tokens and figure.busy_seconds > figure.jobs * start_s
        }
        fallback = sum(paces.values()) / len(paces) if paces else stats.mean_decode_rate(self._redis) or 0.0
        started = self._started_at(running)
        jobs_of: dict[str, list[str]] = {}
        for job_id, worker_id in running.items():
            jobs_of.setdefault(worker_id, []).append(job_id)
        workers = []
        for worker_id, slots in pool_workers.items():
            pace = paces.get(worker_id, fallback)
            busy = jobs_of.get(worker_id, [])
            for lane in range(max(slots, len(busy))):
                free_at = now
                if lane < len(busy) and pace > 0:
                    job_id = busy[lane]
                    elapsed_s = now - started.get(job_id, now)
                    budget = self._budgets.get(job_id, self._settings.default_max_tokens)
                    left_s = start_s + fill * budget / pace - elapsed_s
                    if left_s <= 0:
                        left_s = max(start_s + budget / pace - elapsed_s, 0.0) / 2
                    free_at = now + left_s
                workers.append(Worker(worker_id if lane == 0 else f"{worker_id}#{lane}", pace, free_at, start_s))
        return workers

    def _started_at(self, running: Mapping[str, str]) -> dict[str, float]:
        with self._records.pipeline(transaction=False) as pipe:
            for job_id in running:
                pipe.hget(keys.job_key(job_id), "started_at")
            replies = pipe.execute()
        return {job_id: float(raw) for job_id, raw in zip(running, replies, strict=True) if raw is not None}

    def _learn_budgets(self, job_ids: Sequence[str]) -> None:
        wanted = [job_id for job_id in dict.fromkeys(job_ids) if job_id not in self._budgets]
        if wanted:
            with self._records.pipeline(transaction=False) as pipe:
                for job_id in wanted:
                    pipe.hget(keys.job_key(job_id), "spec")
                for job_id, raw in zip(wanted, pipe.execute(), strict=True):
                    if raw is not None:
                        self._budgets[job_id] = JobSpec.model_validate_json(raw).max_tokens
        self._seen.update(job_ids)

    def _expected_tokens(self, job_id: str, fill: float) -> float:
        return max(fill * self._budgets.get(job_id, self._settings.default_max_tokens), 1.0)


def _moved(before: float | None, now_expected: float | None, now: float) -> bool:
    if now_expected is None:
        return False
    if before is None:
        return True
    return abs(now_expected - before) > max(DRIFT_MIN_S, DRIFT_SHARE * max(before - now, 0.0))
