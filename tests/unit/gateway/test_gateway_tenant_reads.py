"""Reads that must stay inside the caller's merchant, and the size of a page nobody asked a size for."""

from __future__ import annotations

from typing import Any

from integrations.providers.stripe.signature import sign_stripe_payload
from tests.unit.gateway.fakes import Gateway
from tests.unit.gateway.seed import SECRET, assert_error, create, new_subscription


async def received_event(gateway: Gateway, key: str) -> dict[str, Any]:
    """A signed Stripe event received on a new connection of the merchant holding `key`."""
    async with gateway.client(api_key=key) as client:
        connection = await create(
            client, "/v1/connections", {"provider": "stripe", "webhook_secrets": [SECRET]}
        )
        body = b'{"id": "evt_owned", "type": "customer.created", "created": 1736942400}'
        signature = sign_stripe_payload(body, SECRET, int(gateway.clock().timestamp()))
        answer = await client.post(
            f"/webhooks/stripe/{connection['id']}",
            content=body,
            headers={"Content-Type": "application/json", "Stripe-Signature": signature},
        )
        assert answer.json() == {"status": "accepted"}
        [event] = (await client.get("/v1/inbound-events")).json()["data"]
    return dict(event)


async def test_another_merchants_inbound_event_is_404_even_by_its_real_id(gateway: Gateway) -> None:
    _, owner_key = await gateway.merchant("Owner")
    _, other_key = await gateway.merchant("Other")
    event = await received_event(gateway, owner_key)

    async with gateway.client(api_key=other_key) as client:
        assert_error(await client.get(f"/v1/inbound-events/{event['id']}"), 404, "not_found")
        assert_error(await client.post(f"/v1/inbound-events/{event['id']}/reprocess"), 404, "not_found")
    async with gateway.client(api_key=owner_key) as client:
        mine = await client.get(f"/v1/inbound-events/{event['id']}")

    assert mine.status_code == 200
    assert mine.json() == event


async def test_a_list_without_a_limit_answers_twenty_items(gateway: Gateway) -> None:
    merchant, key = await gateway.merchant()
    for _ in range(25):
        await new_subscription(gateway, merchant)

    async with gateway.client(api_key=key) as client:
        first = (await client.get("/v1/subscriptions")).json()
        everything = (await client.get("/v1/subscriptions", params={"limit": "100"})).json()

    # The documented default (CONTRACT: `?limit=`, default 20), spelled out rather than imported.
    assert len(first["data"]) == 20
    assert first["has_more"] is True
    assert len(everything["data"]) == 25
    assert everything["has_more"] is False
    assert first["data"] == everything["data"][:20]
