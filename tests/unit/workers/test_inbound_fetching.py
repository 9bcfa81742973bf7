"""Events that lack their object: fetched from Stripe's API with the connection's key (respx).

Stripe cannot run here, so its API is answered by respx; everything else is real: the
adapter, the worker's task, the services, the store fake. A transient failure (timeout,
429, 5xx) leaves the event `accepted` for a later attempt; only a refusal fails it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
import respx

from domain.inbound.internal import ProcessingOutcome
from domain.inbound.model import InboundEvent, InboundStatus
from domain.merchants.external import ConnectionChange, NewConnection
from domain.merchants.model import Connection
from domain.shared.errors import ConcurrencyConflict
from domain.subscriptions.commands import ProviderCommand
from domain.subscriptions.internal import SubscriptionsInternal
from domain.subscriptions.outcome import CommandOutcome
from integrations.providers.stripe.samples import (
    invoice_paid_event,
    subscription_event,
    subscription_object,
    thin_event_body,
)
from integrations.redis.signals import LocalSignal
from integrations.stores.leases import WorkerRegistry
from integrations.telemetry.tracing import Telemetry
from subgate.bootstrap import providers
from tests.support.fakes import Services, build_services
from tests.support.work import stored_event, verified_stripe_event
from workers.deps import WorkerConfig, WorkerDeps
from workers.tasks import apply_inbound

API_KEY = "sk_test_connection_key"
STRIPE = "https://api.stripe.com/v1"


@dataclass
class World:
    services: Services
    deps: WorkerDeps
    connection: Connection

    async def receive(self, body: bytes, event_type: str, event_id: str) -> InboundEvent:
        await self.services.inbound.receive(
            verified_stripe_event(
                merchant_id=self.connection.merchant_id,
                connection_id=self.connection.id,
                event_id=event_id,
                event_type=event_type,
                body=body,
            )
        )
        [claimed] = await self.services.inbound_internal.claim("wrk_test", 10)
        return claimed

    async def process(self, event: InboundEvent) -> tuple[ProcessingOutcome, InboundEvent]:
        outcome = await apply_inbound(self.deps, event)
        await self.services.inbound_internal.record([outcome])
        stored = await stored_event(self.services.txn, event.id)
        assert stored is not None
        return outcome, stored

    async def set_api_key(self, api_key: str | None) -> None:
        change = ConnectionChange(api_key_changed=True, api_key=api_key)
        await self.services.merchants.update_connection(
            self.connection.merchant_id, self.connection.id, change
        )


def worker_deps(services: Services, telemetry: Telemetry, **overrides: Any) -> WorkerDeps:
    adapters = providers(services.merchants_internal.api_key, services.clock)
    fields: dict[str, Any] = {
        "config": WorkerConfig(),
        "clock": services.clock,
        "telemetry": telemetry,
        "providers": adapters,
        "signal": LocalSignal(),
        "registry": WorkerRegistry(services.store, services.clock),
        "redis": None,
        "subscriptions": services.subscriptions,
        "inbound": services.inbound_internal,
        "notifications": services.notifications,
    }
    return WorkerDeps(**(fields | overrides))


@pytest.fixture
async def world() -> AsyncIterator[World]:
    services = build_services()
    merchant, _ = await services.merchants_internal.create_merchant("Acme")
    connection = await services.merchants.create_connection(
        merchant.id,
        NewConnection(provider="stripe", webhook_secrets=["whsec_fetching_tests"], api_key=API_KEY),
    )
    telemetry = Telemetry("subgate-test")
    try:
        yield World(services=services, deps=worker_deps(services, telemetry), connection=connection)
    finally:
        telemetry.shutdown()


def subscriptions(world: World) -> list[dict[str, Any]]:
    return world.services.store.documents("subscriptions")


THIN = thin_event_body("customer.subscription.updated", "subscription", "sub_thin", event_id="evt_thin_1")


@respx.mock
async def test_a_thin_event_is_completed_from_the_api_with_the_connections_key(world: World) -> None:
    route = respx.get(f"{STRIPE}/subscriptions/sub_thin").respond(
        200, json=subscription_object(sub_id="sub_thin", status="past_due")
    )
    event = await world.receive(THIN, "v1.customer.subscription.updated", "evt_thin_1")

    outcome, stored = await world.process(event)

    assert outcome.status == InboundStatus.APPLIED
    assert stored.status == InboundStatus.APPLIED
    assert route.call_count == 1
    assert route.calls.last.request.headers["authorization"] == f"Bearer {API_KEY}"
    [sub] = subscriptions(world)
    assert (sub["provider_subscription_id"], sub["status"]) == ("sub_thin", "past_due")


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(500, json={"error": {"type": "api_error", "message": "Stripe is having a moment"}}),
        httpx.Response(503, json={"error": {"type": "api_error", "message": "unavailable"}}),
        httpx.Response(429, json={"error": {"type": "rate_limit_error", "message": "slow down"}}),
        httpx.ReadTimeout("the read timed out"),
        httpx.ConnectError("connection refused"),
    ],
    ids=["500", "503", "429", "timeout", "refused"],
)
@respx.mock
async def test_a_transient_failure_leaves_the_event_accepted_for_later(
    world: World, answer: httpx.Response | Exception
) -> None:
    route = respx.get(f"{STRIPE}/subscriptions/sub_thin")
    if isinstance(answer, Exception):
        route.mock(side_effect=answer)
    else:
        route.mock(return_value=answer)
    event = await world.receive(THIN, "v1.customer.subscription.updated", "evt_thin_1")

    outcome, stored = await world.process(event)

    assert outcome.status is None
    assert stored.status == InboundStatus.ACCEPTED
    assert stored.attempts == 1
    assert stored.due_at == world.services.clock() + timedelta(seconds=1)
    assert subscriptions(world) == []

    # Stripe answers again: the next attempt applies it.
    route.mock(
        side_effect=None, return_value=httpx.Response(200, json=subscription_object(sub_id="sub_thin"))
    )
    world.services.clock.advance(1)
    [again] = await world.services.inbound_internal.claim("wrk_test", 10)
    outcome, stored = await world.process(again)
    assert stored.status == InboundStatus.APPLIED
    assert len(subscriptions(world)) == 1


@pytest.mark.parametrize(
    ("status", "error_type"),
    [(404, "invalid_request_error"), (401, "invalid_request_error"), (403, "invalid_request_error")],
)
@respx.mock
async def test_a_refusal_fails_the_event_with_the_reason(world: World, status: int, error_type: str) -> None:
    respx.get(f"{STRIPE}/subscriptions/sub_thin").respond(
        status, json={"error": {"type": error_type, "message": "No such subscription: 'sub_thin'"}}
    )
    event = await world.receive(THIN, "v1.customer.subscription.updated", "evt_thin_1")

    outcome, stored = await world.process(event)

    assert stored.status == InboundStatus.FAILED
    assert outcome.reason is not None
    assert "sub_thin" in outcome.reason


@respx.mock
async def test_without_an_api_key_a_thin_event_fails_until_one_is_set_and_it_is_reprocessed(
    world: World,
) -> None:
    await world.set_api_key(None)
    respx.get(f"{STRIPE}/subscriptions/sub_thin").respond(200, json=subscription_object(sub_id="sub_thin"))
    event = await world.receive(THIN, "v1.customer.subscription.updated", "evt_thin_1")

    outcome, stored = await world.process(event)

    assert stored.status == InboundStatus.FAILED
    assert outcome.reason is not None
    assert "api_key" in outcome.reason

    await world.set_api_key(API_KEY)
    await world.services.inbound.reprocess(world.connection.merchant_id, event.id)
    [again] = await world.services.inbound_internal.claim("wrk_test", 10)
    _, stored = await world.process(again)
    assert stored.status == InboundStatus.APPLIED


@respx.mock
async def test_an_invoice_of_an_unseen_subscription_fetches_the_subscription(world: World) -> None:
    route = respx.get(f"{STRIPE}/subscriptions/sub_early").respond(
        200, json=subscription_object(sub_id="sub_early", status="active")
    )
    body = invoice_paid_event(event_id="evt_inv", subscription="sub_early", invoice_id="in_early")
    event = await world.receive(body, "invoice.paid", "evt_inv")

    _, stored = await world.process(event)

    assert stored.status == InboundStatus.APPLIED
    assert route.call_count == 1
    [sub] = subscriptions(world)
    assert (sub["provider_subscription_id"], sub["status"]) == ("sub_early", "active")
    types = [m["event_type"] for m in world.services.store.inserted("outbox")]
    assert types == ["subscription.created", "payment.succeeded"]


@respx.mock
async def test_an_invoice_of_an_unseen_subscription_waits_without_an_api_key(world: World) -> None:
    await world.set_api_key(None)
    route = respx.get(f"{STRIPE}/subscriptions/sub_early")
    body = invoice_paid_event(event_id="evt_inv", subscription="sub_early")
    event = await world.receive(body, "invoice.paid", "evt_inv")

    outcome, stored = await world.process(event)

    assert outcome.status is None
    assert stored.status == InboundStatus.ACCEPTED
    assert route.call_count == 0


@respx.mock
async def test_a_snapshot_event_is_never_fetched(world: World) -> None:
    route = respx.get(url__startswith=STRIPE)
    body = subscription_event("customer.subscription.created", event_id="evt_full", sub_id="sub_full")
    event = await world.receive(body, "customer.subscription.created", "evt_full")

    _, stored = await world.process(event)

    assert stored.status == InboundStatus.APPLIED
    assert route.call_count == 0


class LosingEveryRace(SubscriptionsInternal):
    """A service whose every unit loses its compare-and-set, as under heavy contention."""

    async def apply(self, command: ProviderCommand) -> CommandOutcome:
        raise ConcurrencyConflict("subscription", command.provider_subscription_id)


async def test_a_unit_that_keeps_losing_races_is_postponed_not_ignored(world: World) -> None:
    services = world.services
    losing = LosingEveryRace(services.txn, services.clock, dict)
    deps = worker_deps(services, world.deps.telemetry, subscriptions=losing)
    body = subscription_event("customer.subscription.created", event_id="evt_busy")
    event = await world.receive(body, "customer.subscription.created", "evt_busy")

    outcome = await apply_inbound(deps, event)

    assert outcome.status is None
