"""What the worker records for an event: ignored is not applied, and early payments wait their turn.

Everything is real except the store (the in-memory fake) and the clock: the Stripe adapter,
the worker's task, the services and their repositories.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest

from domain.inbound.model import InboundEvent, InboundStatus
from domain.merchants.external import NewConnection
from domain.merchants.model import Connection
from domain.shared.events import EventType
from integrations.providers.stripe.samples import event_body, invoice_paid_event, subscription_event
from integrations.redis.signals import LocalSignal
from integrations.stores.leases import WorkerRegistry
from integrations.telemetry.tracing import Telemetry
from subgate.bootstrap import providers
from tests.support.fakes import Services, build_services
from tests.support.work import stored_event, verified_stripe_event
from workers.deps import WorkerConfig, WorkerDeps
from workers.tasks import apply_inbound


@dataclass
class Worker:
    services: Services
    deps: WorkerDeps
    connection: Connection

    async def receive(self, body: bytes, event_type: str, event_id: str) -> None:
        await self.services.inbound.receive(
            verified_stripe_event(
                merchant_id=self.connection.merchant_id,
                connection_id=self.connection.id,
                event_id=event_id,
                event_type=event_type,
                body=body,
            )
        )

    async def run_due(self) -> list[InboundEvent]:
        """Claim what is due, apply and record it, as the inbound loop does; the events as stored."""
        claimed = await self.services.inbound_internal.claim("wrk_test", 10)
        outcomes = [await apply_inbound(self.deps, event) for event in claimed]
        await self.services.inbound_internal.record(outcomes)
        stored = [await stored_event(self.services.txn, event.id) for event in claimed]
        return [event for event in stored if event is not None]


@pytest.fixture
async def worker() -> AsyncIterator[Worker]:
    services = build_services()
    merchant, _ = await services.merchants_internal.create_merchant("Acme")
    # No API key: a payment for an unknown subscription cannot be looked up, only waited for.
    connection = await services.merchants.create_connection(
        merchant.id, NewConnection(provider="stripe", webhook_secrets=["whsec_outcome_tests"])
    )
    telemetry = Telemetry("subgate-test")
    deps = WorkerDeps(
        config=WorkerConfig(),
        clock=services.clock,
        telemetry=telemetry,
        providers=providers(services.merchants_internal.api_key, services.clock),
        signal=LocalSignal(),
        registry=WorkerRegistry(services.store, services.clock),
        redis=None,
        subscriptions=services.subscriptions,
        inbound=services.inbound_internal,
        notifications=services.notifications,
    )
    try:
        yield Worker(services=services, deps=deps, connection=connection)
    finally:
        telemetry.shutdown()


async def test_an_event_type_nobody_handles_is_recorded_as_ignored_with_nothing_changed(
    worker: Worker,
) -> None:
    await worker.receive(event_body("customer.created", {"id": "cus_1"}), "customer.created", "evt_cus")

    [stored] = await worker.run_due()

    assert stored.status == InboundStatus.IGNORED
    assert stored.reason == "event type 'customer.created' is not handled"
    assert stored.processed_at == worker.services.clock()
    assert worker.services.store.documents("subscriptions") == []
    assert worker.services.store.documents("outbox") == []


async def test_a_payment_before_its_subscription_waits_and_is_applied_after_it(worker: Worker) -> None:
    services = worker.services
    await worker.receive(invoice_paid_event(event_id="evt_paid"), "invoice.paid", "evt_paid")

    [early] = await worker.run_due()

    # Postponed: still accepted, one attempt counted, due again a second later, leased by nobody.
    assert early.status == InboundStatus.ACCEPTED
    assert early.attempts == 1
    assert early.due_at == services.clock() + timedelta(seconds=1)
    assert early.lease_owner is None
    assert early.reason is not None
    assert await worker.run_due() == []  # not due yet

    await worker.receive(
        subscription_event("customer.subscription.created", event_id="evt_sub"),
        "customer.subscription.created",
        "evt_sub",
    )
    services.clock.advance(timedelta(seconds=1))
    # Both are due; the subscription's event was due first, so it is claimed (and applied) first.
    stored = {event.provider_event_id: event for event in await worker.run_due()}

    assert stored["evt_sub"].status == InboundStatus.APPLIED
    assert stored["evt_paid"].status == InboundStatus.APPLIED
    [subscription] = services.store.documents("subscriptions")
    assert subscription["status"] == "active"
    kinds = [doc["event_type"] for doc in services.store.documents("outbox")]
    assert kinds[-1] == EventType.PAYMENT_SUCCEEDED.value
