"""A stream's frames: each event is decoded and framed once, whatever the number of its clients;
a client that fell behind gets what waits in one write; a quiet stream gets a keep-alive."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import fakeredis
import pytest
from fastapi.testclient import TestClient

from services.gateway import jobs as gateway_jobs
from services.gateway.fanout import EventFanout
from services.gateway.frames import StreamItem, stream_item
from services.gateway.jobs import JobService
from services.gateway.routes import jobs as jobs_route
from shared import keys
from shared.eventlog import EventWriter, stamp
from shared.schemas import DoneEvent, InferenceResult, ReasoningEvent, Timings, Usage
from shared.settings import Settings
from tests.unit.gateway.conftest import Harness


def test_frames_an_event_becomes_one_sse_frame_with_its_seq_as_id() -> None:
    raw = b'{"seq":3,"ts":1.5,"type":"reasoning","text":"a\\nb","tokens":1}'
    item = stream_item(raw)
    assert (item.seq, item.type) == (3, "reasoning")
    assert (
        item.frame
        == b'event: reasoning\ndata: {"seq":3,"ts":1.5,"type":"reasoning","text":"a\\nb","tokens":1}\nid: 3\n\n'
    )


def test_frames_every_listener_of_a_job_shares_one_decoded_item() -> None:
    async def scenario() -> list[StreamItem | None]:
        server = fakeredis.FakeServer()
        fanout = EventFanout(fakeredis.FakeAsyncRedis(server=server), stream_item)
        publisher = fakeredis.FakeAsyncRedis(server=server)
        channel = keys.job_events_channel("j")
        try:
            async with fanout.listen(channel) as first, fanout.listen(channel) as second:
                await publisher.publish(channel, '{"seq":1,"ts":1.0,"type":"queued","position":0}')
                return [await asyncio.wait_for(first.get(), 1), await asyncio.wait_for(second.get(), 1)]
        finally:
            await fanout.close()

    one, two = asyncio.run(scenario())
    assert one is two and one is not None and one.seq == 1


def result() -> InferenceResult:
    return InferenceResult(finish_reason="stop", reasoning_end="model", usage=Usage(), timings=Timings())


def test_frames_a_client_that_fell_behind_gets_the_waiting_events_in_one_batch(tmp_path: Path) -> None:
    server = fakeredis.FakeServer()
    writer = EventWriter(fakeredis.FakeRedis(server=server), "j", ttl_s=60)
    settings = Settings(redis_url="redis://fake", data_dir=tmp_path)
    redis = fakeredis.FakeAsyncRedis(server=server)
    service = JobService(settings, redis, fakeredis.FakeRedis(server=server), models=None)  # type: ignore[arg-type]

    async def scenario() -> list[list[int]]:
        writer.emit(stamp(ReasoningEvent, text="a"))
        batches = service.follow_batches("j")
        seen = [[item.seq for item in await anext(batches)]]
        for text in "bcdef":  # while the client is not reading
            writer.emit(stamp(ReasoningEvent, text=text))
        await asyncio.sleep(0.2)
        seen.append([item.seq for item in await anext(batches)])
        writer.emit(stamp(DoneEvent, result=result()))
        seen += [[item.seq for item in batch] async for batch in batches]
        return seen

    assert asyncio.run(scenario()) == [[1], [2, 3, 4, 5, 6], [7]]


@pytest.mark.timeout(30)
def test_frames_a_quiet_stream_gets_a_keepalive_comment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gateway_jobs, "IDLE_RESYNC_S", 0.05)
    monkeypatch.setattr(jobs_route, "KEEPALIVE_S", 0.2)
    harness = Harness(tmp_path)
    with TestClient(harness.app) as client:
        job: dict[str, Any] = client.post("/v1/jobs", json={"prompt": "Hi?"}).json()  # no worker: it waits
        with client.stream("GET", job["events_url"]) as response:
            assert response.headers["cache-control"] == "no-cache"
            lines = []
            for line in response.iter_lines():
                lines.append(line)
                if line.startswith(":"):
                    break
    assert json.loads(lines[1].removeprefix("data: "))["type"] == "queued"
    assert lines[-1] == ": ping"
