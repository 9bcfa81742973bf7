"""Replays and reprocessing of what retention emptied: 409 `payload_expired`, naming the date the
payload was removed, and nothing changes."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from domain.inbound.model import InboundStatus
from integrations.stores.repositories import StoreUnit
from tests.unit.gateway.fakes import Gateway
from tests.unit.gateway.seed import assert_error, create
from tests.unit.gateway.test_gateway_outbound_management import dead_delivery
from tests.unit.gateway.test_gateway_reprocess import stored, stored_event

REMOVED = "2025-01-14T03:00:00.000000Z"


async def test_reprocessing_an_event_whose_body_was_removed_is_refused_with_the_date(
    gateway: Gateway,
) -> None:
    merchant, key = await gateway.merchant()
    removed_at = gateway.clock() - timedelta(hours=33)
    failed = await stored_event(gateway, merchant, InboundStatus.FAILED)
    applied = await stored_event(gateway, merchant, InboundStatus.APPLIED)
    for event in (failed, applied):

        async def expire(unit: StoreUnit, event_id: str = event.id) -> None:
            found = await unit.inbound_events.get(event_id)
            assert found is not None
            await unit.inbound_events.update(replace(found, body=b"", payload_expired_at=removed_at))

        await gateway.run(expire)
    before = stored(gateway, failed.id)

    async with gateway.client(api_key=key) as client:
        refused = await client.post(f"/v1/inbound-events/{failed.id}/reprocess")
        applied_refused = await client.post(f"/v1/inbound-events/{applied.id}/reprocess")
        shown = await client.get(f"/v1/inbound-events/{failed.id}")

    assert_error(refused, 409, "payload_expired")
    assert REMOVED in refused.json()["error"]["message"]
    assert_error(applied_refused, 409, "payload_expired")
    assert stored(gateway, failed.id) == before
    assert shown.json()["payload_expired_at"] == REMOVED
    assert gateway.signal.kinds == []


async def test_replaying_or_retrying_a_delivery_whose_body_was_removed_is_refused_with_the_date(
    gateway: Gateway,
) -> None:
    merchant, key = await gateway.merchant()
    async with gateway.client(api_key=key) as client:
        endpoint = await create(client, "/v1/endpoints", {"url": "https://a.example.com/hooks"})
        delivery, letter = await dead_delivery(gateway, merchant, endpoint["id"])
        removed_at = gateway.clock() - timedelta(hours=33)

        async def expire(unit: StoreUnit) -> None:
            await unit.deliveries.update(replace(delivery, payload_expired_at=removed_at))

        await gateway.run(expire)

        replay = await client.post(f"/v1/dead-letters/{letter.id}/replay")
        retry = await client.post(f"/v1/deliveries/{delivery.id}/retry")
        bulk = await client.post("/v1/dead-letters/replay", json={})
        listed = (await client.get("/v1/dead-letters")).json()["data"]
        shown = (await client.get(f"/v1/deliveries/{delivery.id}")).json()

    assert_error(replay, 409, "payload_expired")
    assert_error(retry, 409, "payload_expired")
    assert REMOVED in replay.json()["error"]["message"]
    assert bulk.json()["replayed"] == 0
    [skipped] = bulk.json()["skipped"]
    assert (skipped["id"], skipped["type"]) == (letter.id, "payload_expired")
    assert REMOVED in skipped["reason"]
    assert [d["id"] for d in listed] == [letter.id]  # still a dead letter, not replayed
    assert (shown["status"], shown["payload_expired_at"]) == ("dead", REMOVED)
