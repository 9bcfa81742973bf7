"""`/v1/connections`: providers that exist, secret rotation, deletion, and keys never echoed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from integrations.providers.polar.adapter import PolarAdapter
from integrations.providers.stripe.adapter import StripeAdapter
from tests.unit.gateway.fakes import BASE_URL, START, Gateway, make_gateway
from tests.unit.gateway.seed import assert_error, create
from tests.unit.gateway.webhooks import event_body, stripe_headers

OLD = "whsec_before_the_rotation"
NEW = "whsec_after_the_rotation_1"
API_KEY = "sk_test_never_shown_again"


@pytest.fixture
def both(tmp_path: Path) -> Iterator[Gateway]:
    built = make_gateway(tmp_path, providers={"stripe": StripeAdapter(), "polar": PolarAdapter()})
    yield built
    built.deps.telemetry.shutdown()


async def post_signed(
    client: httpx.AsyncClient, connection: dict[str, Any], secret: str, event_id: str
) -> int:
    body = event_body(event_id)
    headers = stripe_headers(body, secret, int(START.timestamp()))
    response = await client.post(f"/webhooks/stripe/{connection['id']}", content=body, headers=headers)
    return response.status_code


async def test_a_provider_without_an_adapter_is_refused_at_creation(gateway: Gateway) -> None:
    # The default test gateway wires Stripe only: a Polar connection there would get a dead URL.
    _, key = await gateway.merchant()
    async with gateway.client(api_key=key) as client:
        response = await client.post("/v1/connections", json={"provider": "polar", "webhook_secrets": [NEW]})

    assert_error(response, 422, "validation_error")
    assert "polar" in response.json()["error"]["message"]
    assert gateway.store.documents("connections") == []


async def test_a_polar_connection_gets_a_polar_url(both: Gateway) -> None:
    _, key = await both.merchant()
    async with both.client(api_key=key) as client:
        created = await create(client, "/v1/connections", {"provider": "polar", "webhook_secrets": [NEW]})

    assert created["provider"] == "polar"
    assert created["webhook_url"] == f"{BASE_URL}/webhooks/polar/{created['id']}"


async def test_rotation_refuses_the_old_secret_and_accepts_the_new(gateway: Gateway) -> None:
    _, key = await gateway.merchant()
    async with gateway.client(api_key=key) as client:
        connection = await create(client, "/v1/connections", {"provider": "stripe", "webhook_secrets": [OLD]})
        assert await post_signed(client, connection, OLD, "evt_before") == 200

        rotated = await client.patch(f"/v1/connections/{connection['id']}", json={"webhook_secrets": [NEW]})

        assert rotated.status_code == 200
        assert rotated.json() == connection
        assert await post_signed(client, connection, OLD, "evt_old_secret") == 401
        assert await post_signed(client, connection, NEW, "evt_new_secret") == 200


async def test_a_rotation_may_list_both_secrets_for_a_while(gateway: Gateway) -> None:
    _, key = await gateway.merchant()
    async with gateway.client(api_key=key) as client:
        connection = await create(client, "/v1/connections", {"provider": "stripe", "webhook_secrets": [OLD]})
        await client.patch(f"/v1/connections/{connection['id']}", json={"webhook_secrets": [OLD, NEW]})

        assert await post_signed(client, connection, OLD, "evt_a") == 200
        assert await post_signed(client, connection, NEW, "evt_b") == 200


async def test_an_api_key_is_kept_and_never_echoed(gateway: Gateway) -> None:
    _, key = await gateway.merchant()
    async with gateway.client(api_key=key) as client:
        connection = await create(client, "/v1/connections", {"provider": "stripe", "webhook_secrets": [OLD]})
        patched = await client.patch(f"/v1/connections/{connection['id']}", json={"api_key": API_KEY})
        fetched = await client.get(f"/v1/connections/{connection['id']}")
        listed = await client.get("/v1/connections")

    for answer in (patched, fetched, listed):
        assert answer.status_code == 200
        assert API_KEY not in answer.text
        assert OLD not in answer.text
    [stored] = gateway.store.documents("connections")
    assert stored["api_key"] == API_KEY
    assert stored["webhook_secrets"] == [OLD]


async def test_an_api_key_can_be_forgotten(gateway: Gateway) -> None:
    _, key = await gateway.merchant()
    async with gateway.client(api_key=key) as client:
        connection = await create(
            client, "/v1/connections", {"provider": "stripe", "webhook_secrets": [OLD], "api_key": API_KEY}
        )
        await client.patch(f"/v1/connections/{connection['id']}", json={"api_key": None})

    assert gateway.store.documents("connections")[0]["api_key"] is None


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({}, id="nothing-to-change"),
        pytest.param({"webhook_secrets": []}, id="no-secrets"),
        pytest.param({"webhook_secrets": None}, id="null-secrets"),
        pytest.param({"webhook_secrets": ["short"]}, id="short-secret"),
        pytest.param({"webhook_secrets": [NEW] * 6}, id="too-many"),
        pytest.param({"webhook_secrets": NEW}, id="not-a-list"),
        pytest.param({"api_key": 42}, id="key-not-a-string"),
        pytest.param({"api_key": ""}, id="empty-key"),
    ],
)
async def test_an_invalid_patch_is_422_and_changes_nothing(gateway: Gateway, body: dict[str, Any]) -> None:
    _, key = await gateway.merchant()
    async with gateway.client(api_key=key) as client:
        connection = await create(client, "/v1/connections", {"provider": "stripe", "webhook_secrets": [OLD]})
        response = await client.patch(f"/v1/connections/{connection['id']}", json=body)

    assert_error(response, 422, "validation_error")
    assert gateway.store.documents("connections")[0]["webhook_secrets"] == [OLD]


async def test_delete_makes_later_posts_404_and_keeps_the_events(gateway: Gateway) -> None:
    _, key = await gateway.merchant()
    async with gateway.client(api_key=key) as client:
        connection = await create(client, "/v1/connections", {"provider": "stripe", "webhook_secrets": [OLD]})
        assert await post_signed(client, connection, OLD, "evt_kept") == 200

        deleted = await client.delete(f"/v1/connections/{connection['id']}")

        assert deleted.status_code == 200
        assert deleted.json() == {"id": connection["id"], "deleted": True}
        assert await post_signed(client, connection, OLD, "evt_after") == 404
        assert_error(await client.get(f"/v1/connections/{connection['id']}"), 404, "not_found")
        assert_error(await client.delete(f"/v1/connections/{connection['id']}"), 404, "not_found")
        assert (await client.get("/v1/connections")).json() == {"data": [], "has_more": False}
        events = (await client.get("/v1/inbound-events", params={"connection_id": connection["id"]})).json()

    assert [e["provider_event_id"] for e in events["data"]] == ["evt_kept"]


async def test_another_merchants_connection_is_404_and_untouched(gateway: Gateway) -> None:
    _, owner_key = await gateway.merchant("Owner")
    _, other_key = await gateway.merchant("Other")
    async with gateway.client(api_key=owner_key) as client:
        connection = await create(client, "/v1/connections", {"provider": "stripe", "webhook_secrets": [OLD]})

    async with gateway.client(api_key=other_key) as client:
        path = f"/v1/connections/{connection['id']}"
        assert_error(await client.patch(path, json={"webhook_secrets": [NEW]}), 404, "not_found")
        assert_error(await client.delete(path), 404, "not_found")

    async with gateway.client(api_key=owner_key) as client:
        assert await post_signed(client, connection, OLD, "evt_still_fine") == 200
    assert gateway.store.documents("connections")[0]["webhook_secrets"] == [OLD]
