"""The `/v1` resources: representations, filters and request validation."""

from __future__ import annotations

from typing import Any

import pytest

from domain.notifications.model import (
    DeadLetterKind,
    DeliveryStatus,
)
from domain.subscriptions.state_machine import SubscriptionStatus
from integrations.providers.stripe.signature import sign_stripe_payload
from integrations.stores.repositories import StoreUnit
from tests.unit.gateway.fakes import BASE_URL, Gateway
from tests.unit.gateway.seed import (
    ISO_Z,
    SECRET,
    assert_error,
    create,
    new_dead_letter,
    new_delivery,
    new_subscription,
)

# --- connections ----------------------------------------------------------------------------


async def test_create_connection_never_echoes_secrets(gateway: Gateway) -> None:
    _, key = await gateway.merchant()
    body = {"provider": "stripe", "webhook_secrets": [SECRET], "api_key": "sk_test_private_key"}

    async with gateway.client(api_key=key) as client:
        created = await create(client, "/v1/connections", body)
        listed = (await client.get("/v1/connections")).json()
        fetched = (await client.get(f"/v1/connections/{created['id']}")).json()

    assert set(created) == {"id", "provider", "webhook_url", "signing_scheme", "created_at"}
    assert created["provider"] == "stripe"
    assert created["webhook_url"] == f"{BASE_URL}/webhooks/stripe/{created['id']}"
    assert ISO_Z.match(created["created_at"])
    assert listed == {"data": [created], "has_more": False}
    assert fetched == created
    for answer in (created, listed, fetched):
        assert SECRET not in str(answer)
        assert "sk_test_private_key" not in str(answer)


async def test_created_connection_receives_webhooks(gateway: Gateway) -> None:
    _, key = await gateway.merchant()
    async with gateway.client(api_key=key) as client:
        created = await create(client, "/v1/connections", {"provider": "stripe", "webhook_secrets": [SECRET]})
        body = b'{"id": "evt_9", "type": "invoice.paid", "created": 1736942400}'
        signature = sign_stripe_payload(body, SECRET, int(gateway.clock().timestamp()))
        response = await client.post(
            created["webhook_url"].removeprefix(BASE_URL),
            content=body,
            headers={"Content-Type": "application/json", "Stripe-Signature": signature},
        )

    assert response.json() == {"status": "accepted"}


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"webhook_secrets": [SECRET]}, id="no-provider"),
        pytest.param({"provider": "paypal", "webhook_secrets": [SECRET]}, id="unknown-provider"),
        pytest.param({"provider": 7, "webhook_secrets": [SECRET]}, id="provider-not-string"),
        pytest.param({"provider": "stripe"}, id="no-secrets"),
        pytest.param({"provider": "stripe", "webhook_secrets": []}, id="empty-secrets"),
        pytest.param({"provider": "stripe", "webhook_secrets": SECRET}, id="secrets-not-list"),
        pytest.param({"provider": "stripe", "webhook_secrets": [123456789]}, id="secret-not-string"),
        pytest.param({"provider": "stripe", "webhook_secrets": ["short"]}, id="secret-too-short"),
        pytest.param({"provider": "stripe", "webhook_secrets": [SECRET], "api_key": 42}, id="api-key-type"),
        pytest.param([{"provider": "stripe"}], id="array-body"),
        pytest.param("stripe", id="string-body"),
    ],
)
async def test_invalid_connection_is_422(gateway: Gateway, body: Any) -> None:
    _, key = await gateway.merchant()
    async with gateway.client(api_key=key) as client:
        response = await client.post("/v1/connections", json=body)

    assert_error(response, 422, "validation_error")
    assert gateway.store.documents("connections") == []


@pytest.mark.parametrize("raw", [b"", b"{", b"{'provider': 'stripe'}", b"\xff"])
async def test_malformed_json_body_is_400(gateway: Gateway, raw: bytes) -> None:
    _, key = await gateway.merchant()
    async with gateway.client(api_key=key) as client:
        response = await client.post(
            "/v1/connections", content=raw, headers={"Content-Type": "application/json"}
        )

    assert_error(response, 400, "invalid_request")


async def test_oversized_rest_body_is_413(gateway: Gateway) -> None:
    _, key = await gateway.merchant()
    limit = gateway.deps.config.max_body_bytes
    async with gateway.client(api_key=key) as client:
        response = await client.post("/v1/endpoints", json={"url": "https://a.test/" + "x" * limit})

    assert_error(response, 413, "payload_too_large")


# --- endpoints ------------------------------------------------------------------------------


async def test_endpoint_secret_is_shown_only_on_creation(gateway: Gateway) -> None:
    _, key = await gateway.merchant()
    body = {"url": "https://hooks.example.com/subgate", "event_types": ["subscription.activated"]}

    async with gateway.client(api_key=key) as client:
        created = await create(client, "/v1/endpoints", body)
        fetched = (await client.get(f"/v1/endpoints/{created['id']}")).json()
        listed = (await client.get("/v1/endpoints")).json()

    assert created["secret"].startswith("whsec_")
    assert {k: v for k, v in created.items() if k != "secret"} == fetched
    assert fetched == {
        "id": created["id"],
        "url": "https://hooks.example.com/subgate",
        "event_types": ["subscription.activated"],
        "description": None,
        "enabled": True,
        "created_at": created["created_at"],
    }
    assert listed == {"data": [fetched], "has_more": False}
    assert created["secret"] not in str(fetched) + str(listed)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({}, id="no-url"),
        pytest.param({"url": "ftp://files.example.com"}, id="not-http"),
        pytest.param({"url": "https://user:pw@example.com/hook"}, id="credentials"),
        pytest.param({"url": ["https://example.com"]}, id="url-not-string"),
        pytest.param({"url": "https://example.com", "event_types": ["nope.event"]}, id="unknown-type"),
        pytest.param({"url": "https://example.com", "event_types": "payment.failed"}, id="types-not-list"),
        pytest.param({"url": "https://example.com", "description": 5}, id="description-type"),
        pytest.param({"url": "https://example.com", "description": "d" * 1001}, id="description-long"),
    ],
)
async def test_invalid_endpoint_is_422(gateway: Gateway, body: dict[str, Any]) -> None:
    _, key = await gateway.merchant()
    async with gateway.client(api_key=key) as client:
        response = await client.post("/v1/endpoints", json=body)

    assert_error(response, 422, "validation_error")
    assert gateway.store.documents("endpoints") == []


# --- subscriptions --------------------------------------------------------------------------


async def test_subscription_representation_and_filters(gateway: Gateway) -> None:
    merchant, key = await gateway.merchant()
    active = await new_subscription(gateway, merchant)
    canceled = await new_subscription(
        gateway, merchant, SubscriptionStatus.CANCELED, canceled_at=gateway.clock()
    )

    async with gateway.client(api_key=key) as client:
        fetched = (await client.get(f"/v1/subscriptions/{active.id}")).json()
        only_canceled = (await client.get("/v1/subscriptions", params={"status": "canceled"})).json()
        by_customer = (await client.get("/v1/subscriptions", params={"customer_id": "cus_other"})).json()
        everything = (await client.get("/v1/subscriptions", params={"status": ""})).json()

    assert fetched["id"] == active.id
    assert fetched["status"] == "active"
    assert ISO_Z.match(fetched["current_period_end"])
    expected_keys = {
        "id", "customer_id", "plan_id", "status", "current_period_start", "current_period_end",
        "cancel_at_period_end", "trial_end", "canceled_at", "provider", "provider_subscription_id",
        "created_at", "updated_at",
    }  # fmt: skip
    assert set(fetched) == expected_keys
    assert [s["id"] for s in only_canceled["data"]] == [canceled.id]
    assert by_customer == {"data": [], "has_more": False}
    assert [s["id"] for s in everything["data"]] == sorted([active.id, canceled.id])


async def test_subscription_by_provider_id(gateway: Gateway) -> None:
    merchant, key = await gateway.merchant()
    linked = await new_subscription(gateway, merchant, provider="stripe", provider_subscription_id="sub_S1")
    await new_subscription(gateway, merchant)

    async def link(unit: StoreUnit) -> None:
        await unit.provider_links.add(merchant.id, "subscription", "stripe", "sub_S1", linked.id)

    await gateway.run(link)
    async with gateway.client(api_key=key) as client:
        found = (await client.get("/v1/subscriptions", params={"provider_subscription_id": "sub_S1"})).json()

    assert [s["id"] for s in found["data"]] == [linked.id]


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/subscriptions", {"status": "happy"}),
        ("/v1/deliveries", {"status": "lost"}),
        ("/v1/dead-letters", {"kind": "pigeon"}),
        ("/v1/inbound-events", {"status": "weird"}),
    ],
)
async def test_unknown_enum_filter_is_422(gateway: Gateway, path: str, params: dict[str, str]) -> None:
    _, key = await gateway.merchant()
    async with gateway.client(api_key=key) as client:
        response = await client.get(path, params=params)

    assert_error(response, 422, "validation_error")


# --- deliveries, dead letters, inbound events ----------------------------------------------


async def test_delivery_lists_count_attempts_and_detail_lists_them(gateway: Gateway) -> None:
    merchant, key = await gateway.merchant()
    failed = await new_delivery(gateway, merchant, "ep_1")
    succeeded = await new_delivery(gateway, merchant, "ep_2", DeliveryStatus.SUCCEEDED)

    async with gateway.client(api_key=key) as client:
        listed = (await client.get("/v1/deliveries")).json()
        by_endpoint = (await client.get("/v1/deliveries", params={"endpoint_id": "ep_2"})).json()
        by_status = (await client.get("/v1/deliveries", params={"status": "failed"})).json()
        detail = (await client.get(f"/v1/deliveries/{failed.id}")).json()

    assert [len(d["attempts"]) for d in listed["data"]] == [2, 2]
    assert listed["data"][0] == detail  # one representation in lists and by id
    assert [d["id"] for d in by_endpoint["data"]] == [succeeded.id]
    assert [d["id"] for d in by_status["data"]] == [failed.id]
    assert detail["attempts"] == [
        {
            "at": "2025-01-15T12:00:00.000000Z",
            "status_code": 500,
            "duration_ms": 120,
            "error": "server error",
            "response_body": None,
        },
        {
            "at": "2025-01-15T12:00:05.000000Z",
            "status_code": None,
            "duration_ms": 15000,
            "error": "timeout",
            "response_body": None,
        },
    ]
    assert detail["next_attempt_at"] == "2025-01-15T12:05:00.000000Z"
    for key_name in ("endpoint_id", "message_id", "event_type", "status", "created_at"):
        assert key_name in detail


async def test_dead_letters_filter_by_kind(gateway: Gateway) -> None:
    merchant, key = await gateway.merchant()
    webhook = await new_dead_letter(gateway, merchant, DeadLetterKind.WEBHOOK)
    await new_dead_letter(gateway, merchant, DeadLetterKind.EMAIL)

    async with gateway.client(api_key=key) as client:
        both = (await client.get("/v1/dead-letters")).json()
        only_webhooks = (await client.get("/v1/dead-letters", params={"kind": "webhook"})).json()

    assert len(both["data"]) == 2
    assert only_webhooks == {
        "data": [
            {
                "id": webhook.id,
                "kind": "webhook",
                "delivery_id": webhook.delivery_id,
                "reason": "retries exhausted",
                "created_at": "2025-01-15T12:00:00.000000Z",
            }
        ],
        "has_more": False,
    }


async def test_inbound_events_are_listed_for_their_merchant(gateway: Gateway) -> None:
    _, key = await gateway.merchant()
    async with gateway.client(api_key=key) as client:
        connection = await create(
            client, "/v1/connections", {"provider": "stripe", "webhook_secrets": [SECRET]}
        )
        body = b'{"id": "evt_42", "type": "customer.created", "created": 1736942400}'
        signature = sign_stripe_payload(body, SECRET, int(gateway.clock().timestamp()))
        await client.post(
            f"/webhooks/stripe/{connection['id']}",
            content=body,
            headers={"Content-Type": "application/json", "Stripe-Signature": signature},
        )
        listed = (await client.get("/v1/inbound-events", params={"connection_id": connection["id"]})).json()
        accepted = (await client.get("/v1/inbound-events", params={"status": "accepted"})).json()
        applied = (await client.get("/v1/inbound-events", params={"status": "applied"})).json()
        [event] = listed["data"]
        fetched = (await client.get(f"/v1/inbound-events/{event['id']}")).json()

    assert fetched == event
    assert accepted["data"] == [event]
    assert applied["data"] == []
    assert event == {
        "id": event["id"],
        "connection_id": connection["id"],
        "provider": "stripe",
        "provider_event_id": "evt_42",
        "type": "customer.created",
        "status": "accepted",
        "source_ip": "203.0.113.10",
        "received_at": "2025-01-15T12:00:00.000000Z",
        "reason": None,
        "payload_expired_at": None,
    }
