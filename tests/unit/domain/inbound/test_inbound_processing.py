"""Inbound events as work items: claims, leases, outcomes and postponements."""

from __future__ import annotations

from datetime import timedelta

from domain.inbound.external import VerifiedEvent
from domain.inbound.internal import MAX_POSTPONEMENT, MAX_PROCESSING_ATTEMPTS, ProcessingOutcome
from domain.inbound.model import InboundStatus
from tests.support.fakes import Services, build_services
from tests.support.work import stored_event


def verified(provider_event_id: str = "evt_1") -> VerifiedEvent:
    return VerifiedEvent(
        merchant_id="mer_1",
        connection_id="conn_1",
        provider="stripe",
        provider_event_id=provider_event_id,
        type="invoice.paid",
        body=b"{}",
        source_ip=None,
        provider_created_at=None,
        trace_carrier={},
    )


async def stored_event_id(services: Services) -> str:
    await services.inbound.receive(verified())
    [doc] = services.store.documents("inbound_events")
    return str(doc["id"])


async def postpone(services: Services, event_id: str, *, transient: bool) -> None:
    [claimed] = await services.inbound_internal.claim("w1", 10)
    assert claimed.id == event_id
    await services.inbound_internal.record(
        [ProcessingOutcome(event_id=event_id, status=None, reason="waiting", transient=transient)]
    )


async def test_a_claimed_event_is_leased_and_due_again_only_when_the_lease_ends() -> None:
    services = build_services()
    event_id = await stored_event_id(services)

    [claimed] = await services.inbound_internal.claim("w1", 10)

    assert claimed.lease_owner == "w1"
    assert await services.inbound_internal.claim("w2", 10) == []
    services.clock.advance(timedelta(seconds=60))
    [again] = await services.inbound_internal.claim("w2", 10)
    assert again.id == event_id
    assert again.lease_owner == "w2"


async def test_postponements_back_off_and_an_orphan_gives_up_in_the_end() -> None:
    services = build_services()
    event_id = await stored_event_id(services)
    waits = []
    for attempt in range(1, MAX_PROCESSING_ATTEMPTS):
        await postpone(services, event_id, transient=False)
        event = await stored_event(services.txn, event_id)
        assert event is not None
        assert event.status == InboundStatus.ACCEPTED
        assert event.attempts == attempt
        assert event.lease_owner is None
        assert event.due_at is not None
        waits.append(event.due_at - services.clock())
        services.clock.set(event.due_at)

    assert waits[:4] == [timedelta(seconds=s) for s in (1, 2, 4, 8)]
    assert max(waits) == MAX_POSTPONEMENT
    await postpone(services, event_id, transient=False)
    final = await stored_event(services.txn, event_id)
    assert final is not None
    assert final.status == InboundStatus.FAILED
    assert final.reason == "waiting"


async def test_a_transient_cause_never_fails_the_event() -> None:
    services = build_services()
    event_id = await stored_event_id(services)
    for _ in range(MAX_PROCESSING_ATTEMPTS + 5):
        await postpone(services, event_id, transient=True)
        event = await stored_event(services.txn, event_id)
        assert event is not None
        assert event.due_at is not None
        services.clock.set(event.due_at)

    event = await stored_event(services.txn, event_id)
    assert event is not None
    assert event.status == InboundStatus.ACCEPTED
    assert event.attempts == MAX_PROCESSING_ATTEMPTS + 5


async def test_a_final_outcome_is_never_overwritten_by_a_late_rerun() -> None:
    services = build_services()
    event_id = await stored_event_id(services)
    await services.inbound_internal.claim("w1", 10)
    await services.inbound_internal.record(
        [ProcessingOutcome(event_id=event_id, status=InboundStatus.APPLIED)]
    )

    await services.inbound_internal.record(
        [ProcessingOutcome(event_id=event_id, status=InboundStatus.IGNORED, reason="late")]
    )

    event = await stored_event(services.txn, event_id)
    assert event is not None
    assert event.status == InboundStatus.APPLIED
    assert event.reason is None
