"""The store is the queue: several workers share it, a dead one's work comes back, Redis is optional."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from contextlib import closing
from dataclasses import replace
from datetime import timedelta

import httpx
import pytest
from aiohttp import web

from gateway.app import create_app
from integrations.providers.stripe.signature import sign_stripe_payload
from integrations.telemetry.tracing import Telemetry
from subgate.bootstrap import Deps, build
from tests.integration.conftest import Service
from tests.integration.test_pipeline import SECRET, connect, post_event, subscription_created
from tests.support.receiver import running_receiver
from tests.support.work import run_until_idle
from workers.deps import WorkerDeps
from workers.pipeline import Pipeline


def _closed_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _second_worker(service: Service, redis_url: str) -> Deps:
    """Another process's view of the same store: its own connection, its own owner name."""
    telemetry = Telemetry("subgate-test-2")
    return await build(service.deps.settings, redis_url=redis_url, telemetry=telemetry, clock=service.clock)


def small_batches(deps: WorkerDeps) -> WorkerDeps:
    return replace(deps, config=replace(deps.config, batch=5))


@pytest.fixture
async def other(service: Service, redis_url: str) -> AsyncIterator[Deps]:
    deps = await _second_worker(service, redis_url)
    try:
        yield deps
    finally:
        await deps.close()


async def test_two_workers_on_one_store_send_each_notification_once(service: Service, other: Deps) -> None:
    async with running_receiver() as receiver:
        connection_id, _ = await connect(service, receiver.url)
        for n in range(60):
            body = subscription_created(event_id=f"evt_{n}").replace(b"sub_123", f"sub_{n:03}".encode())
            assert await post_event(service, connection_id, body) == (200, '{"status":"accepted"}')

        # Small batches, so that both workers keep coming back to the store for more.
        first = Pipeline(small_batches(service.deps.worker), "worker-a")
        second = Pipeline(small_batches(other.worker), "worker-b")
        handled = await asyncio.gather(run_until_idle(first), run_until_idle(second))
        await receiver.wait_for(60)

    ids = [r.headers["webhook-id"] for r in receiver.received]
    assert len(ids) == 60
    assert len(set(ids)) == 60
    # Both took part: the work was shared, not run twice.
    assert all(count > 0 for count in handled)
    events = (await service.client.get("/v1/inbound-events?limit=100", headers=service.auth)).json()["data"]
    assert [e["status"] for e in events] == ["applied"] * 60


async def test_a_silent_workers_leases_are_handed_back_by_a_live_one(service: Service, other: Deps) -> None:
    async with running_receiver() as receiver:
        connection_id, _ = await connect(service, receiver.url)
        assert (await post_event(service, connection_id, subscription_created()))[0] == 200
        dead = Pipeline(other.worker, "worker-that-dies")
        await dead.beat()
        [leased] = await other.worker.inbound.claim(dead.owner, 10)
        live = Pipeline(service.deps.worker, "worker-alive")
        assert await run_until_idle(live) == 0  # leased elsewhere: nothing to do yet

        dead_after = timedelta(seconds=service.deps.worker.config.dead_after_seconds)
        service.clock.offset += dead_after / 2
        assert await live.beat() == 0  # not silent for long enough
        service.clock.offset += dead_after
        assert await live.beat() == 1
        assert not await service.deps.worker.registry.alive(dead.owner)

        assert await run_until_idle(live) > 0
        await receiver.wait_for(1)

    stored = (await service.client.get(f"/v1/inbound-events/{leased.id}", headers=service.auth)).json()
    assert stored["status"] == "applied"
    assert json.loads(receiver.received[0].body)["type"] == "subscription.created"


async def test_accepted_means_stored_even_with_redis_unreachable(service: Service) -> None:
    settings = service.deps.settings
    cut_off = await build(settings, redis_url=f"redis://127.0.0.1:{_closed_port()}/0", clock=service.clock)
    try:
        transport = httpx.ASGITransport(app=create_app(cut_off.gateway), client=("127.0.0.1", 40000))
        async with (
            running_receiver() as receiver,
            httpx.AsyncClient(transport=transport, base_url="http://subgate.test") as client,
        ):
            connection_id, _ = await connect(service, receiver.url)
            body = subscription_created(event_id="evt_no_redis")
            headers = {
                "content-type": "application/json",
                "stripe-signature": sign_stripe_payload(body, SECRET, int(time.time())),
            }
            answer = await client.post(f"/webhooks/stripe/{connection_id}", content=body, headers=headers)
            assert (answer.status_code, answer.json()) == (200, {"status": "accepted"})
            ready = await client.get("/readyz")
            assert ready.status_code == 503

            # Stored and due: a worker (here one with a working Redis) finds it without any signal.
            assert await run_until_idle(Pipeline(service.deps.worker, "w")) > 0
            await receiver.wait_for(1)
    finally:
        await cut_off.close()


async def test_an_endpoint_that_hangs_delays_no_other_endpoint(service: Service) -> None:
    release = asyncio.Event()
    hung: list[int] = []

    async def hang(request: web.Request) -> web.Response:
        hung.append(1)
        await release.wait()
        return web.Response(text="late")

    app = web.Application()
    app.router.add_post("/{tail:.*}", hang)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # no public accessor
    deps = replace(service.deps.worker, config=replace(service.deps.worker.config, per_endpoint=2))
    stop = asyncio.Event()
    try:
        async with running_receiver() as healthy:
            connection_id, _ = await connect(service, healthy.url)
            slow = await service.client.post(
                "/v1/endpoints", headers=service.auth, json={"url": f"http://127.0.0.1:{port}/hooks"}
            )
            assert slow.status_code == 201
            pipeline = Pipeline(deps, "fair-worker")
            running = asyncio.create_task(pipeline.run(stop))
            for n in range(30):
                body = subscription_created(event_id=f"evt_{n}").replace(b"sub_123", f"sub_{n:03}".encode())
                assert (await post_event(service, connection_id, body))[0] == 200

            # Every healthy delivery arrives while the hanging endpoint holds only its share.
            await healthy.wait_for(30)
            assert len(hung) == 2
            stop.set()
            release.set()
            await running
    finally:
        release.set()
        stop.set()
        await runner.cleanup()
