"""`POST /v1/inbound-events/{id}/reprocess`: a failed or ignored event runs again, idempotently."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from domain.inbound.model import InboundEvent, InboundStatus
from domain.merchants.model import Merchant
from domain.shared.ids import new_id
from domain.shared.work import WorkKind
from integrations.stores.repositories import StoreUnit
from tests.unit.gateway.fakes import Gateway
from tests.unit.gateway.seed import assert_error


async def stored_event(
    gateway: Gateway,
    merchant: Merchant,
    status: InboundStatus,
    due_at: datetime | None = None,
    lease_owner: str | None = None,
) -> InboundEvent:
    now = gateway.clock()
    event = InboundEvent(
        id=new_id("evt"),
        merchant_id=merchant.id,
        connection_id="conn_1",
        provider="stripe",
        provider_event_id=new_id("evt_stripe"),
        type="customer.subscription.updated",
        status=status,
        source_ip="203.0.113.10",
        received_at=now - timedelta(hours=1),
        body=b"{}",
        reason=None if status == InboundStatus.ACCEPTED else "why it stopped",
        attempts=3,
        processed_at=None if status == InboundStatus.ACCEPTED else now - timedelta(minutes=30),
        due_at=due_at or now - timedelta(hours=1),
        lease_owner=lease_owner,
    )

    async def work(unit: StoreUnit) -> None:
        await unit.inbound_events.add_if_new(event)

    await gateway.run(work)
    return event


def stored(gateway: Gateway, event_id: str) -> dict[str, object]:
    [doc] = [d for d in gateway.store.documents("inbound_events") if d["id"] == event_id]
    return doc


@pytest.mark.parametrize("status", [InboundStatus.FAILED, InboundStatus.IGNORED])
async def test_a_finished_event_is_accepted_again_and_due_now(
    gateway: Gateway, status: InboundStatus
) -> None:
    merchant, key = await gateway.merchant()
    event = await stored_event(gateway, merchant, status)

    async with gateway.client(api_key=key) as client:
        response = await client.post(f"/v1/inbound-events/{event.id}/reprocess")

    assert response.status_code == 200
    assert response.json()["id"] == event.id
    assert response.json()["status"] == "accepted"
    assert response.json()["reason"] is None
    doc = stored(gateway, event.id)
    assert (doc["status"], doc["attempts"], doc["processed_at"], doc["lease_owner"]) == (
        "accepted",
        0,
        None,
        None,
    )
    assert doc["due_at"] == "2025-01-15T12:00:00.000000Z"
    assert gateway.signal.kinds == [WorkKind.INBOUND]


async def test_reprocessing_twice_is_the_same_as_once(gateway: Gateway) -> None:
    merchant, key = await gateway.merchant()
    event = await stored_event(gateway, merchant, InboundStatus.FAILED)

    async with gateway.client(api_key=key) as client:
        first = await client.post(f"/v1/inbound-events/{event.id}/reprocess")
        version = stored(gateway, event.id)["version"]
        second = await client.post(f"/v1/inbound-events/{event.id}/reprocess")

    assert first.json() == second.json()
    assert stored(gateway, event.id)["version"] == version


async def test_an_event_waiting_for_a_later_retry_is_made_due_now(gateway: Gateway) -> None:
    merchant, key = await gateway.merchant()
    later = gateway.clock() + timedelta(seconds=40)
    event = await stored_event(gateway, merchant, InboundStatus.ACCEPTED, due_at=later)

    async with gateway.client(api_key=key) as client:
        response = await client.post(f"/v1/inbound-events/{event.id}/reprocess")

    assert response.json()["status"] == "accepted"
    assert stored(gateway, event.id)["due_at"] == "2025-01-15T12:00:00.000000Z"


async def test_an_event_a_worker_holds_is_left_to_it(gateway: Gateway) -> None:
    merchant, key = await gateway.merchant()
    lease_end = gateway.clock() + timedelta(seconds=60)
    event = await stored_event(
        gateway, merchant, InboundStatus.ACCEPTED, due_at=lease_end, lease_owner="wrk_1"
    )

    async with gateway.client(api_key=key) as client:
        response = await client.post(f"/v1/inbound-events/{event.id}/reprocess")

    assert response.status_code == 200
    assert stored(gateway, event.id)["lease_owner"] == "wrk_1"
    assert stored(gateway, event.id)["version"] == 0


async def test_an_applied_event_has_nothing_to_run_again(gateway: Gateway) -> None:
    merchant, key = await gateway.merchant()
    event = await stored_event(gateway, merchant, InboundStatus.APPLIED)

    async with gateway.client(api_key=key) as client:
        response = await client.post(f"/v1/inbound-events/{event.id}/reprocess")

    assert_error(response, 409, "conflict")
    assert stored(gateway, event.id)["status"] == "applied"


async def test_another_merchants_event_is_404_and_untouched(gateway: Gateway) -> None:
    owner, _ = await gateway.merchant("Owner")
    _, other_key = await gateway.merchant("Other")
    event = await stored_event(gateway, owner, InboundStatus.FAILED)

    async with gateway.client(api_key=other_key) as client:
        response = await client.post(f"/v1/inbound-events/{event.id}/reprocess")
        missing = await client.post("/v1/inbound-events/evt_nope/reprocess")

    assert_error(response, 404, "not_found")
    assert_error(missing, 404, "not_found")
    assert stored(gateway, event.id)["status"] == "failed"
    assert gateway.signal.kinds == []
