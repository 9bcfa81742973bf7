"""Work signals over a real Redis: relayed to the local loops, and harmless when Redis is away."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from contextlib import closing

from structlog.testing import capture_logs

from domain.shared.work import WorkKind
from integrations.redis.client import redis_client
from integrations.redis.signals import LocalSignal, RedisSignal, listen


def _closed_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_published_signal_wakes_the_listening_loops(redis_url: str) -> None:
    local = LocalSignal()
    woken: list[WorkKind] = []
    arrived = asyncio.Event()

    def waker(kind: WorkKind) -> Callable[[], None]:
        def wake() -> None:
            woken.append(kind)
            arrived.set()

        return wake

    for kind in WorkKind:
        local.subscribe(kind, waker(kind))
    publisher, subscriber = redis_client(redis_url), redis_client(redis_url)
    signal = RedisSignal(publisher)
    stop = asyncio.Event()
    listener = asyncio.create_task(listen(subscriber, local, stop))
    try:
        # Subscribing wakes every loop once (signals may have been missed meanwhile).
        async with asyncio.timeout(10):
            while len(woken) < len(WorkKind):
                arrived.clear()
                await arrived.wait()
        woken.clear()

        signal.notify(WorkKind.DELIVERIES)

        async with asyncio.timeout(10):
            while not woken:
                arrived.clear()
                await arrived.wait()
        assert woken == [WorkKind.DELIVERIES]
    finally:
        stop.set()
        await listener
        await signal.close()
        await publisher.aclose()
        await subscriber.aclose()


async def test_a_burst_of_notifications_is_coalesced(redis_url: str) -> None:
    client = redis_client(redis_url)
    signal = RedisSignal(client)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe("subgate:work")
    try:
        for _ in range(100):
            signal.notify(WorkKind.INBOUND)
        messages = []
        quiet = 0
        # Read until the channel has been quiet for a few polls (None also stands for the
        # ignored subscribe confirmation, so one None alone does not mean the end).
        while quiet < 3:
            message = await pubsub.get_message(timeout=0.2)
            if message is None:
                quiet += 1
            else:
                quiet = 0
                messages.append(message["data"])
        # One in flight, at most one more for everything marked meanwhile.
        assert 1 <= len(messages) <= 2
        assert set(messages) == {b"inbound"}
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
        await signal.close()
        await client.aclose()


async def test_an_unreachable_redis_never_reaches_the_caller() -> None:
    client = redis_client(f"redis://127.0.0.1:{_closed_port()}/0")
    signal = RedisSignal(client)
    try:
        with capture_logs() as logs:
            signal.notify(WorkKind.INBOUND)  # returns at once, raises nothing
            signal.notify(WorkKind.OUTBOX)
            async with asyncio.timeout(10):
                await signal.settle()
        assert [entry["event"] for entry in logs] == ["work_signal_failed"]
    finally:
        await signal.close()
        await client.aclose()
