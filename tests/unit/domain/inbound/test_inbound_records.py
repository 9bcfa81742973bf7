"""What the store holds for an inbound event at each step: received, finished, given up, run again."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from domain.inbound.external import Receipt, VerifiedEvent
from domain.inbound.internal import MAX_PROCESSING_ATTEMPTS, ProcessingOutcome
from domain.inbound.model import InboundEvent, InboundStatus
from domain.shared.errors import NotFound
from domain.shared.work import WorkKind
from integrations.stores.repositories import StoreUnit
from tests.support.fakes import DEFAULT_START, Services, build_services
from tests.support.work import record_final, stored_event


def verified(provider_event_id: str = "evt_provider_1", merchant_id: str = "mer_1") -> VerifiedEvent:
    return VerifiedEvent(
        merchant_id=merchant_id,
        connection_id="conn_1",
        provider="stripe",
        provider_event_id=provider_event_id,
        type="invoice.paid",
        body=b'{"id": "evt_provider_1"}',
        source_ip="203.0.113.7",
        provider_created_at=DEFAULT_START - timedelta(minutes=3),
        trace_carrier={"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
    )


async def received(services: Services, provider_event_id: str = "evt_provider_1") -> InboundEvent:
    assert await services.inbound.receive(verified(provider_event_id)) == Receipt.ACCEPTED
    [doc] = [
        d for d in services.store.documents("inbound_events") if d["provider_event_id"] == provider_event_id
    ]
    stored = await stored_event(services.txn, str(doc["id"]))
    assert stored is not None
    return stored


async def test_a_received_event_is_stored_whole_due_at_once_and_wakes_the_workers() -> None:
    services = build_services()

    event = await received(services)

    assert event.id.startswith("evtsg_")
    assert event.id != "evt_provider_1"
    assert (event.merchant_id, event.connection_id, event.provider) == ("mer_1", "conn_1", "stripe")
    assert (event.provider_event_id, event.type) == ("evt_provider_1", "invoice.paid")
    assert event.status == InboundStatus.ACCEPTED
    assert event.source_ip == "203.0.113.7"
    assert event.body == b'{"id": "evt_provider_1"}'
    assert event.received_at == DEFAULT_START
    assert event.due_at == DEFAULT_START
    assert event.provider_created_at == DEFAULT_START - timedelta(minutes=3)
    assert dict(event.trace_carrier) == dict(verified().trace_carrier)
    assert (event.attempts, event.reason, event.processed_at) == (0, None, None)
    assert services.signal.count(WorkKind.INBOUND) == 1


async def test_a_duplicate_is_not_stored_again_and_wakes_nobody() -> None:
    services = build_services()
    await services.inbound.receive(verified())

    assert await services.inbound.receive(verified()) == Receipt.DUPLICATE

    assert len(services.store.documents("inbound_events")) == 1
    assert services.signal.count(WorkKind.INBOUND) == 1


async def test_an_unknown_or_foreign_event_is_not_found_by_name() -> None:
    services = build_services()
    event = await received(services)

    for merchant_id, event_id in (("mer_1", "evt_missing"), ("mer_2", event.id)):
        for lookup in (services.inbound.get, services.inbound.reprocess):
            with pytest.raises(NotFound) as missing:
                await lookup(merchant_id, event_id)
            assert (missing.value.entity, missing.value.entity_id) == ("inbound event", event_id)
            assert missing.value.message == f"inbound event {event_id!r} does not exist"
    assert await services.inbound.get("mer_1", event.id) == event


async def test_a_final_outcome_ends_the_lease_and_dates_the_event() -> None:
    services = build_services()
    event = await received(services)
    await services.inbound_internal.claim("w1", 10)
    services.clock.advance(timedelta(seconds=2))

    await record_final(services.inbound_internal, event.id, InboundStatus.IGNORED, "nothing to do")

    stored = await stored_event(services.txn, event.id)
    assert stored is not None
    assert (stored.status, stored.reason) == (InboundStatus.IGNORED, "nothing to do")
    assert stored.processed_at == services.clock()
    assert stored.lease_owner is None


async def test_giving_up_counts_the_last_attempt_and_ends_the_lease() -> None:
    services = build_services()
    event = await received(services)

    async def nearly_spent(unit: StoreUnit) -> None:
        stored = await unit.inbound_events.get(event.id)
        assert stored is not None
        await unit.inbound_events.update(replace(stored, attempts=MAX_PROCESSING_ATTEMPTS - 1))

    await services.txn(nearly_spent)
    await services.inbound_internal.claim("w1", 10)
    services.clock.advance(timedelta(seconds=2))

    await services.inbound_internal.record(
        [ProcessingOutcome(event_id=event.id, status=None, reason="no subscription")]
    )

    stored = await stored_event(services.txn, event.id)
    assert stored is not None
    assert stored.status == InboundStatus.FAILED
    assert stored.attempts == MAX_PROCESSING_ATTEMPTS
    assert stored.reason == "no subscription"
    assert stored.processed_at == services.clock()
    assert stored.lease_owner is None


async def test_one_outcome_already_recorded_does_not_stop_the_rest_of_the_batch() -> None:
    services = build_services()
    done = await received(services, "evt_done")
    waiting = await received(services, "evt_waiting")
    await record_final(services.inbound_internal, done.id, InboundStatus.APPLIED)

    recorded = await services.inbound_internal.record(
        [
            ProcessingOutcome(event_id=done.id, status=InboundStatus.IGNORED, reason="late rerun"),
            ProcessingOutcome(event_id="evt_vanished", status=InboundStatus.APPLIED),
            ProcessingOutcome(event_id=waiting.id, status=InboundStatus.APPLIED),
        ]
    )

    assert [event.id for event in recorded] == [waiting.id]
    stored = await stored_event(services.txn, waiting.id)
    assert stored is not None
    assert stored.status == InboundStatus.APPLIED


async def test_reprocessing_a_failed_event_makes_it_due_now_for_any_worker() -> None:
    services = build_services()
    event = await received(services)

    async def failed_while_leased(unit: StoreUnit) -> None:
        stored = await unit.inbound_events.get(event.id)
        assert stored is not None
        await unit.inbound_events.update(
            replace(stored, status=InboundStatus.FAILED, reason="boom", attempts=3, lease_owner="w_gone")
        )

    await services.txn(failed_while_leased)
    services.clock.advance(timedelta(minutes=5))

    again = await services.inbound.reprocess("mer_1", event.id)

    assert again.status == InboundStatus.ACCEPTED
    assert (again.reason, again.attempts, again.processed_at) == (None, 0, None)
    assert again.due_at == services.clock()
    assert again.lease_owner is None
    assert await stored_event(services.txn, event.id) == again
