"""Where each waiting job stands: the order in which a pool's workers will take its waiting jobs,
and when each is expected to start.

`read_line` takes a snapshot of the scheduler's state (rings, owners' queues, waiting sets);
`forecast` replays the scheduler's choice (`scheduler.TAKE_SCRIPT`: priorities with aging, then
turns over API keys) on that snapshot, pick after pick, each pick at the moment the forecast
expects a worker to come free. So a job's position is the real pick order, aging included, and
its ETA follows from the pace of the pool's live workers (a start per job, then tokens per
second) and the token budgets of the jobs running and waiting ahead of it.

Limits of the estimate, by design: it knows only the jobs waiting now (a `high` question that
arrives later goes ahead, and the position then rises); a job is expected to use the share of
its `max_tokens` that finished jobs used on average (`stats.budget_fill`), so one that stops
early or runs to its budget moves everyone behind it; a job's start (prompt evaluation) is the
mean so far (a long conversation's prompt takes longer);
a conversation's next turn routed to its worker's own queue is not in the line.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from redis import Redis
from rq import Queue

from services.store.scheduler import PRIORITIES, Priority
from shared import keys


@dataclass
class Line:
    """One pool's waiting jobs as the scheduler sees them."""

    rings: dict[Priority, list[str]] = field(default_factory=dict)
    """Owners with jobs waiting, per priority, in turn order."""
    queues: dict[tuple[Priority, str], list[str]] = field(default_factory=dict)
    """RQ ids of each owner's waiting jobs per priority, front first."""
    waiting: dict[Priority, dict[str, float]] = field(default_factory=dict)
    """RQ id → when it was queued, per priority (what ages a priority)."""

    def __len__(self) -> int:
        return sum(len(queue) for queue in self.queues.values())


@dataclass(frozen=True)
class Worker:
    """A live worker of the pool, as the forecast needs it."""

    worker_id: str
    tokens_per_s: float
    """Its decode pace: generated tokens per second once a job's first token is out."""
    free_at: float
    """When it is expected to take its next job (now, if idle)."""
    start_s: float = 0.0
    """What a job costs it before its first token (prompt evaluation), on average."""


@dataclass(frozen=True)
class Slot:
    rq_id: str
    position: int
    """How many waiting jobs are taken before this one (0: it is next)."""
    start_at: float | None
    """When a worker is expected to start it (None: no worker, or no pace measured yet)."""


def read_line(redis: Redis, pool: str) -> Line:
    """A snapshot of the pool's waiting jobs, in two round trips."""
    with redis.pipeline(transaction=True) as pipe:
        for priority in PRIORITIES:
            pipe.lrange(keys.ring_key(pool, priority.value), 0, -1)
            pipe.zrange(keys.priority_waiting_key(pool, priority.value), 0, -1, withscores=True)
        replies = pipe.execute()
    line = Line()
    for index, priority in enumerate(PRIORITIES):
        ring, waiting = replies[2 * index], replies[2 * index + 1]
        line.rings[priority] = [_text(owner) for owner in ring]
        line.waiting[priority] = {_text(rq_id): float(score) for rq_id, score in waiting}
    with redis.pipeline(transaction=False) as pipe:
        listed = [(priority, owner) for priority in PRIORITIES for owner in dict.fromkeys(line.rings[priority])]
        for priority, owner in listed:
            name = keys.owner_queue(pool, priority.value, None if owner == "-" else owner)
            pipe.lrange(f"{Queue.redis_queue_namespace_prefix}{name}", 0, -1)
        for (priority, owner), queue in zip(listed, pipe.execute(), strict=True):
            line.queues[(priority, owner)] = [_text(rq_id) for rq_id in queue]
    return line


class Replay:
    """The scheduler's pick, replayed on a snapshot (mirrors `scheduler.TAKE_SCRIPT` step by step:
    keep the two in step)."""

    def __init__(self, line: Line, aging_s: float) -> None:
        self._rings = {p: list(line.rings.get(p, [])) for p in PRIORITIES}
        self._queues = {k: list(v) for k, v in line.queues.items()}
        self._waiting = {p: dict(line.waiting.get(p, {})) for p in PRIORITIES}
        self._boost_s = {Priority.HIGH: 2 * aging_s, Priority.NORMAL: aging_s, Priority.LOW: 0.0}

    def pick(self, now: float) -> str | None:
        """The RQ id a worker asking at `now` takes, or None when nothing waits."""
        while True:
            best: Priority | None = None
            best_age = 0.0
            for priority in PRIORITIES:
                waiting = self._waiting[priority]
                if waiting:
                    age = now - min(waiting.values()) + self._boost_s[priority]
                    if best is None or age > best_age:
                        best, best_age = priority, age
            if best is None:
                return None
            ring = self._rings[best]
            for _ in range(len(ring)):
                owner = ring.pop(0)
                queue = self._queues.get((best, owner), [])
                if queue:
                    rq_id = queue.pop(0)
                    if queue:
                        ring.append(owner)
                    self._waiting[best].pop(rq_id, None)
                    return rq_id
            # Waiting entries with no job in any queue: the script forgets them; a worker asks again.
            self._waiting[best].clear()


def forecast(
    line: Line,
    *,
    now: float,
    aging_s: float,
    workers: Sequence[Worker],
    cost_tokens: Mapping[str, float],
    default_cost_tokens: float,
) -> list[Slot]:
    """Every waiting job in the order the workers will take it, with its expected start.

    Each pick happens when the earliest worker comes free (aging is judged at that moment); the
    job then keeps that worker for its start plus `cost_tokens[rq_id]` (else
    `default_cost_tokens`) at its pace.
    Without a worker with a known pace, the order is judged as of `now` and no start is given.
    """
    replay = Replay(line, aging_s)
    paced = [worker for worker in workers if worker.tokens_per_s > 0]
    free = [(max(worker.free_at, now), index) for index, worker in enumerate(paced)]
    heapq.heapify(free)
    slots: list[Slot] = []
    while True:
        at, index = free[0] if free else (now, -1)
        rq_id = replay.pick(at)
        if rq_id is None:
            return slots
        if index < 0:
            slots.append(Slot(rq_id, len(slots), None))
            continue
        slots.append(Slot(rq_id, len(slots), at))
        worker = paced[index]
        busy_s = worker.start_s + cost_tokens.get(rq_id, default_cost_tokens) / worker.tokens_per_s
        heapq.heapreplace(free, (at + busy_s, index))


def job_of(rq_id: str) -> tuple[str, int]:
    """The job id and run of an RQ id (the inverse of `jobs.rq_id_of`: job ids have no dash)."""
    job_id, _, run = rq_id.partition("-")
    return job_id, int(run) if run.isdigit() else 1


def ids(slots: Iterable[Slot]) -> list[str]:
    return [slot.rq_id for slot in slots]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
