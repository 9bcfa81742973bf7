"""Helpers for posting signed Stripe webhooks to the app under test."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.merchants.external import NewConnection
from domain.merchants.model import Connection
from integrations.providers.stripe.signature import sign_stripe_payload
from tests.unit.gateway.fakes import Gateway

SECRET = "whsec_current_secret_123"
OLD_SECRET = "whsec_previous_secret_456"


def event_body(event_id: str = "evt_1", event_type: str = "customer.subscription.updated") -> bytes:
    # Unusual spacing and an escaped character: re-serializing would change these bytes.
    return (
        b'{ "id": "' + event_id.encode() + b'",  "type": "' + event_type.encode() + b'", '
        b'"created": 1736942400, "note": "caf\\u00e9", "data": {"object": {}} }'
    )


def stripe_headers(
    body: bytes, secret: str, timestamp: int, content_type: str = "application/json"
) -> dict[str, str]:
    return {"Content-Type": content_type, "Stripe-Signature": sign_stripe_payload(body, secret, timestamp)}


async def stripe_connection(gateway: Gateway, secrets: tuple[str, ...] = (SECRET,)) -> Connection:
    merchant, _ = await gateway.merchant()
    new = NewConnection(provider="stripe", webhook_secrets=secrets)
    return await gateway.deps.merchants.create_connection(merchant.id, new)


def now_ts(gateway: Gateway) -> int:
    return int(gateway.clock().timestamp())


async def post(
    gateway: Gateway,
    connection_id: str,
    body: bytes,
    headers: Mapping[str, str],
    provider: str = "stripe",
    peer: str = "203.0.113.10",
) -> tuple[int, Any]:
    async with gateway.client(peer=peer) as client:
        response = await client.post(f"/webhooks/{provider}/{connection_id}", content=body, headers=headers)
    return response.status_code, response.json()


def assert_nothing_kept(gateway: Gateway) -> None:
    assert gateway.store.documents("inbound_events") == []
    assert gateway.signal.kinds == []
