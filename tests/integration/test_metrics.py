"""`GET /metrics`: each metric moves when its event happens, scraped through the real app.

The gateway and the worker's loops share one process here, as in `subgate dev`, so one
scrape shows both. Every check compares a scrape with the one taken before the event.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import timedelta

import httpx
from aiohttp import web

from gateway.app import create_app
from integrations.providers.stripe.samples import event_body, invoice_paid_event, subscription_event
from tests.integration.conftest import Service
from tests.integration.test_pipeline import connect, post_event, subscription_created
from tests.support.metrics import Scrape
from tests.support.receiver import running_receiver
from tests.support.service_processes import eventually

EVENTS = "subgate_inbound_events_total"
PROCESSED = "subgate_inbound_processed_total"
DELIVERIES = "subgate_deliveries_total"
DEAD_LETTERS = "subgate_dead_letters_total"
DISABLED = "subgate_endpoints_disabled_total"
IN_FLIGHT = "subgate_work_in_flight"
WAIT = "subgate_queue_wait_seconds_count"
LATENCY = "subgate_delivery_latency_seconds_count"
ATTEMPTS = "subgate_delivery_attempts"


async def scrape(service: Service) -> Scrape:
    response = await service.client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return Scrape.parse(response.text)


async def test_inbound_answers_are_counted_by_provider_and_outcome(service: Service) -> None:
    async with running_receiver() as receiver:
        connection_id, _ = await connect(service, receiver.url)
        before = await scrape(service)
        body = subscription_created(event_id="evt_counted")
        assert (await post_event(service, connection_id, body))[0] == 200
        assert (await post_event(service, connection_id, body))[0] == 200
        assert (await post_event(service, connection_id, body, secret="whsec_not_this_one"))[0] == 401
        unknown = await service.client.post(
            f"/webhooks/paddle-{time.time_ns()}/{connection_id}",
            content=body,
            headers={"content-type": "application/json"},
        )
        assert unknown.status_code == 404
        after = await scrape(service)

    assert after.since(before, EVENTS, provider="stripe", outcome="accepted") == 1
    assert after.since(before, EVENTS, provider="stripe", outcome="duplicate") == 1
    assert after.since(before, EVENTS, provider="stripe", outcome="signature_rejected") == 1
    # A provider name from the URL never becomes a label value of its own.
    assert after.since(before, EVENTS, provider="unknown", outcome="unknown_provider") == 1
    assert after.label_values(EVENTS, "provider") == {"stripe", "unknown"}


async def test_processing_deliveries_emails_and_waits_are_counted(service: Service) -> None:
    # The postponed invoice is due again one second later: on the service's clock, which moves
    # only when the test moves it, so each run of the worker processes it exactly once.
    service.clock.stop()
    now = int(time.time())
    customer = {"id": "cus_metrics", "object": "customer", "email": "ada@example.com"}
    async with running_receiver() as receiver:
        connection_id, _ = await connect(service, receiver.url)
        await post_event(
            service,
            connection_id,
            subscription_event("customer.subscription.created", customer=customer, created=now - 60),
        )
        await post_event(service, connection_id, event_body("product.created", {"id": "prod_1"}, created=now))
        # An invoice of a subscription no event has shown: it waits for that subscription.
        early = invoice_paid_event(subscription="sub_not_yet", customer="cus_other", created=now)
        await post_event(service, connection_id, early)
        before = await scrape(service)
        await service.run_worker()
        await receiver.wait_for(1)
        middle = await scrape(service)
        # Past the postponement: the invoice runs again, and waited on purpose (no queue wait).
        service.clock.offset += timedelta(seconds=5)
        canceled = subscription_event(
            "customer.subscription.deleted",
            customer=customer,
            status="canceled",
            canceled_at=now,
            created=now,
        )
        await post_event(service, connection_id, canceled)
        await service.run_worker()
        await receiver.wait_for(2)
        after = await scrape(service)

    for outcome in ("applied", "ignored", "postponed"):
        assert middle.since(before, PROCESSED, provider="stripe", outcome=outcome) == 1, outcome
    assert middle.since(before, WAIT, queue="inbound") == 3
    assert middle.since(before, DELIVERIES, channel="webhook", outcome="succeeded") == 1
    assert middle.since(before, LATENCY, channel="webhook") == 1
    assert middle.since(before, f"{ATTEMPTS}_count", channel="webhook", outcome="succeeded") == 1
    assert middle.since(before, f"{ATTEMPTS}_sum", channel="webhook", outcome="succeeded") == 1
    # The subscription is first seen active with its customer's address: the activation email
    # goes out beside the webhook, and each delivery waited once for fan-out and once for a worker.
    assert middle.since(before, DELIVERIES, channel="email", outcome="succeeded") == 1
    assert middle.since(before, WAIT, queue="outbox") == 2
    assert middle.since(before, WAIT, queue="deliveries") == 2
    # The cancellation is mailed to the customer too (kept as a sent-mail record here).
    assert after.since(middle, DELIVERIES, channel="email", outcome="succeeded") == 1
    assert after.since(middle, LATENCY, channel="email") == 1
    assert after.since(middle, DELIVERIES, channel="webhook", outcome="succeeded") == 1
    assert after.since(middle, PROCESSED, provider="stripe", outcome="postponed") == 1
    assert after.since(middle, WAIT, queue="inbound") == 1
    # Claimed and recorded: nothing is held any more (a missed step would leave -1 or 1).
    assert after.value(IN_FLIGHT, queue="inbound") == 0
    assert after.value(IN_FLIGHT, queue="deliveries") == 0


async def test_failures_end_in_a_counted_dead_letter(service: Service) -> None:
    attempts = len(service.deps.settings.retry_schedule) + 1
    async with running_receiver(status_for=lambda _n: 500) as receiver:
        connection_id, _ = await connect(service, receiver.url)
        await post_event(service, connection_id, subscription_created(event_id="evt_dies"))
        before = await scrape(service)
        await service.run_worker()  # the zero retry schedule makes every retry due at once
        after = await scrape(service)
        assert len(receiver.received) == attempts

    assert after.since(before, DELIVERIES, channel="webhook", outcome="failed") == attempts - 1
    assert after.since(before, DELIVERIES, channel="webhook", outcome="dead") == 1
    assert after.since(before, DEAD_LETTERS, kind="webhook") == 1
    assert after.since(before, f"{ATTEMPTS}_count", channel="webhook", outcome="dead") == 1
    assert after.since(before, f"{ATTEMPTS}_sum", channel="webhook", outcome="dead") == attempts
    assert after.since(before, LATENCY, channel="webhook") == 0
    # Waits are measured up to the first attempt only, not to each retry.
    assert after.since(before, WAIT, queue="deliveries") == 1
    assert after.since(before, WAIT, queue="outbox") == 1


async def test_an_endpoint_disabled_by_410_is_counted(service: Service) -> None:
    async with running_receiver(status_for=lambda _n: 410) as receiver:
        connection_id, _ = await connect(service, receiver.url)
        await post_event(service, connection_id, subscription_created(event_id="evt_gone"))
        before = await scrape(service)
        await service.run_worker()
        after = await scrape(service)

    assert after.since(before, DISABLED) == 1
    assert after.since(before, DEAD_LETTERS, kind="webhook") == 1


@asynccontextmanager
async def holding_receiver(release: asyncio.Event) -> AsyncIterator[str]:
    """An endpoint that answers 200 only once `release` is set."""

    async def handle(_: web.Request) -> web.Response:
        await release.wait()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # aiohttp exposes no public accessor
    try:
        yield f"http://127.0.0.1:{port}/hooks"
    finally:
        release.set()
        await runner.cleanup()


async def test_in_flight_gauge_holds_a_delivery_while_it_runs(service: Service) -> None:
    release = asyncio.Event()
    async with holding_receiver(release) as url:
        connection_id, _ = await connect(service, url)
        await post_event(service, connection_id, subscription_created(event_id="evt_held"))
        worker = asyncio.create_task(service.run_worker())

        async def held() -> bool:
            return (await scrape(service)).value(IN_FLIGHT, queue="deliveries") == 1

        await eventually(held, "the delivery is held in flight")
        release.set()
        await worker
        assert (await scrape(service)).value(IN_FLIGHT, queue="deliveries") == 0


def _client(service: Service, peer: str, **config: object) -> httpx.AsyncClient:
    gateway = service.deps.gateway
    app = create_app(replace(gateway, config=replace(gateway.config, **config)))  # type: ignore[arg-type]  # fields vary per test
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://subgate.test")


async def test_without_a_token_only_loopback_clients_are_answered(service: Service) -> None:
    async with _client(service, "203.0.113.9") as remote:
        refused = await remote.get("/metrics")
    assert refused.status_code == 403
    assert "SUBGATE_METRICS_TOKEN" in refused.json()["error"]["message"]
    async with _client(service, "::1") as local:
        assert (await local.get("/metrics")).status_code == 200
    # Through a trusted proxy on this host, the client is the address it forwards for.
    async with _client(service, "127.0.0.1", trusted_proxies="127.0.0.1") as proxied:
        forwarded = await proxied.get("/metrics", headers={"x-forwarded-for": "203.0.113.9"})
        assert forwarded.status_code == 403
        assert (await proxied.get("/metrics", headers={"x-forwarded-for": "127.0.0.1"})).status_code == 200


async def test_with_a_token_every_client_must_present_it(service: Service) -> None:
    async with _client(service, "203.0.113.9", metrics_token="scrape-me") as remote:
        assert (
            await remote.get("/metrics", headers={"authorization": "Bearer scrape-me"})
        ).status_code == 200
        wrong = await remote.get("/metrics", headers={"authorization": "Bearer scrape-you"})
        assert wrong.status_code == 401
        assert wrong.headers["www-authenticate"] == "Bearer"
    async with _client(service, "127.0.0.1", metrics_token="scrape-me") as local:
        assert (await local.get("/metrics")).status_code == 401
