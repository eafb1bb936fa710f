"""One subscriber connection per gateway: a stream gets every message of its channel at once,
also the very first stream of a gateway (it used to miss its first second of events)."""

from __future__ import annotations

import asyncio

import fakeredis

from services.gateway.fanout import EventFanout
from shared import keys


def test_fanout_first_listener_gets_what_is_published_right_after_it_subscribed() -> None:
    async def scenario() -> list[bytes | None]:
        server = fakeredis.FakeServer()
        fanout = EventFanout(fakeredis.FakeAsyncRedis(server=server), bytes)
        publisher = fakeredis.FakeAsyncRedis(server=server)
        got: list[bytes | None] = []
        try:
            async with fanout.listen(keys.job_events_channel("j1")) as messages:
                for n in range(3):
                    await publisher.publish(keys.job_events_channel("j1"), f"event {n}")
                    got.append(await asyncio.wait_for(messages.get(), 0.5))
        finally:
            await fanout.close()
        return got

    assert asyncio.run(scenario()) == [b"event 0", b"event 1", b"event 2"]
