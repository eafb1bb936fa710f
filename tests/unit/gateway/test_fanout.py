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


def test_fanout_with_no_listener_left_sleeps_until_the_next_one() -> None:
    """An idle gateway's reader used to look for a subscription 100 times a second (3% of a
    core); it now waits for a listener, and the next one still gets its messages."""

    async def scenario() -> tuple[int, list[bytes | None]]:
        server = fakeredis.FakeServer()
        redis = fakeredis.FakeAsyncRedis(server=server)
        fanout = EventFanout(redis, bytes)
        publisher = fakeredis.FakeAsyncRedis(server=server)
        channel = keys.job_events_channel("j1")
        try:
            async with fanout.listen(channel):
                pass
            await asyncio.sleep(0.05)  # the reader notices that nobody listens
            pubsub = fanout._pubsub
            assert pubsub is not None
            looks = 0
            real = type(pubsub).subscribed

            def counted(self: object) -> bool:
                nonlocal looks
                looks += 1
                return bool(real.fget(self))  # type: ignore[attr-defined]

            type(pubsub).subscribed = property(counted)  # type: ignore[method-assign,assignment]
            try:
                await asyncio.sleep(0.3)
            finally:
                type(pubsub).subscribed = real  # type: ignore[method-assign]
            async with fanout.listen(channel) as messages:
                await publisher.publish(channel, "again")
                got = [await asyncio.wait_for(messages.get(), 0.5)]
        finally:
            await fanout.close()
        return looks, got

    looks, got = asyncio.run(scenario())
    assert looks <= 2, f"the idle reader looked {looks} times in 0.3 s"
    assert got == [b"again"]
