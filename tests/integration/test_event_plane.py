"""The event plane on a Redis Cluster of its own (three shards, real redis-servers in cluster
mode) while the queues stay on one plain Redis: a real SSE client of the gateway sees every token
of a real job in order, a replay from seq N gets exactly the rest, and the job's records are on
the cluster, never on the queue Redis."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse
from redis.cluster import ClusterNode
from redis.cluster import RedisCluster as ClusterClient

from services.runtime.redis_server import USER, RedisServer
from shared import keys
from tests.support.redis_cluster import RedisCluster
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

BODY = {"prompt": "Name three prime numbers.", "max_tokens": 64, "max_reasoning_tokens": 32}


@pytest.fixture(scope="module")
def planes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, RedisCluster]]:
    root = Path(tmp_path_factory.mktemp("event-plane"))
    with RedisCluster(root / "cluster", shards=3) as cluster:
        queues = RedisServer(root / "queues").start()
        try:
            env = {"THINKSTREAM_EVENTS_REDIS_URL": cluster.url}
            with Stack(root, workers=1, env=env, redis=queues) as stack:
                yield stack, cluster
        finally:
            queues.stop()


def events(url: str, job_id: str, after: int = 0) -> list[dict[str, Any]]:
    headers = {"Last-Event-ID": str(after)} if after else {}
    with (
        httpx.Client(base_url=url, timeout=180) as client,
        connect_sse(client, "GET", f"/v1/jobs/{job_id}/events", headers=headers) as source,
    ):
        return [json.loads(sse.data) for sse in source.iter_sse() if sse.data]


def test_event_plane_on_a_cluster_streams_every_token_in_order_and_replays(
    planes: tuple[Stack, RedisCluster],
) -> None:
    stack, cluster = planes
    response = httpx.post(f"{stack.url}/v1/jobs", json=BODY, timeout=30)
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]

    seen = events(stack.url, job_id)
    assert [e["seq"] for e in seen] == list(range(1, len(seen) + 1))
    types = [e["type"] for e in seen]
    assert types[0] == "queued" and "started" in types and types[-1] == "done", types
    text = [e for e in seen if e["type"] in ("reasoning", "answer")]
    assert sum(e["tokens"] for e in text) > 8, "the model's tokens came through the cluster"

    view = httpx.get(f"{stack.url}/v1/jobs/{job_id}", timeout=10).json()
    assert view["status"] == "succeeded"
    assert view["answer"] == "".join(e["text"] for e in seen if e["type"] == "answer")

    middle = len(seen) // 2
    assert events(stack.url, job_id, after=middle) == seen[middle:], "a replay from seq N is exactly the rest"

    # Where the records are: on the cluster (its client finds the shard), none on the queue Redis.
    nodes = [ClusterNode("127.0.0.1", node.port) for node in cluster.nodes]
    with ClusterClient(startup_nodes=nodes, username=USER, password=cluster.password) as events_plane:
        assert events_plane.llen(keys.job_events_key(job_id)) == len(seen)
        assert events_plane.hget(keys.job_key(job_id), "status") == b"succeeded"
    queue_plane = stack.redis.client()
    try:
        assert not list(queue_plane.scan_iter(match=f"*{keys.job_tag(job_id)}*"))
        assert queue_plane.exists(keys.RUNNING_JOBS) == 0 and queue_plane.hlen(keys.PENDING_REQUEUES) == 0
    finally:
        queue_plane.close()


def test_event_plane_down_makes_the_gateway_unready_and_says_so(tmp_path: Path) -> None:
    with RedisCluster(tmp_path / "cluster", shards=3) as cluster:
        queues = RedisServer(tmp_path / "queues").start()
        try:
            env = {"THINKSTREAM_EVENTS_REDIS_URL": cluster.url}
            with Stack(tmp_path, workers=1, env=env, redis=queues) as stack:
                ready = httpx.get(f"{stack.url}/readyz", timeout=10)
                assert ready.status_code == 200 and ready.json()["events"] == "ok", ready.text
                cluster.stop()
                started = time.monotonic()
                down = httpx.get(f"{stack.url}/readyz", timeout=30)
                assert time.monotonic() - started < 10, "the probe answers within its timeout"
                assert down.status_code == 503, down.text
                body = down.json()
                assert body["events"].startswith("unreachable") and "THINKSTREAM_EVENTS_REDIS_URL" in body["reason"]
        finally:
            queues.stop()
