"""A connection shows which way its last verified webhook was signed, at the cost of one write per change.

Polar signs two ways (see `integrations.providers.polar.signature`); the connection's REST
representation says which one last verified (`signing_scheme`). It is written when it
changes, never once per webhook, and before the event is stored: a failed write is a 503
with nothing accepted.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from svix.webhooks import Webhook

from integrations.providers.paddle.adapter import PaddleAdapter
from integrations.providers.paddle.samples import subscription_event as paddle_subscription
from integrations.providers.polar.adapter import PolarAdapter
from integrations.providers.polar.samples import polar_event, subscription_object
from integrations.providers.stripe.adapter import StripeAdapter
from tests.support.signatures import paddle_headers_by_hand
from tests.unit.gateway.fakes import Gateway, make_gateway
from tests.unit.gateway.seed import create
from tests.unit.gateway.webhooks import event_body, now_ts, stripe_headers

SECRET = "whsec_c2lnbmluZy1zY2hlbWUtdGVzdHMtc2VjcmV0"


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    providers = {"stripe": StripeAdapter(), "polar": PolarAdapter(), "paddle": PaddleAdapter()}
    built = make_gateway(tmp_path, providers=providers)
    yield built
    built.deps.telemetry.shutdown()


def signed(gateway: Gateway, message_id: str, *, new_way: bool) -> tuple[bytes, dict[str, str]]:
    body = polar_event("subscription.updated", subscription_object())
    key = SECRET if new_way else base64.b64encode(SECRET.encode()).decode()
    at = datetime.fromtimestamp(now_ts(gateway), UTC)
    signature = Webhook(key).sign(message_id, at, body.decode())
    headers = {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(now_ts(gateway)),
        "webhook-signature": signature,
    }
    return body, headers


async def post_polar(gateway: Gateway, connection: str, message_id: str, *, new_way: bool) -> int:
    body, headers = signed(gateway, message_id, new_way=new_way)
    async with gateway.client() as client:
        response = await client.post(f"/webhooks/polar/{connection}", content=body, headers=headers)
    return response.status_code


async def shown(gateway: Gateway, key: str, connection: str) -> Any:
    async with gateway.client(api_key=key) as client:
        return (await client.get(f"/v1/connections/{connection}")).json()["signing_scheme"]


def version(gateway: Gateway) -> int:
    [doc] = gateway.store.documents("connections")
    return int(doc["version"])


async def test_the_connection_shows_the_way_that_last_verified_and_writes_only_changes(
    gateway: Gateway,
) -> None:
    _, key = await gateway.merchant()
    async with gateway.client(api_key=key) as client:
        connection = await create(
            client, "/v1/connections", {"provider": "polar", "webhook_secrets": [SECRET]}
        )
    assert connection["signing_scheme"] is None
    before = version(gateway)

    assert await post_polar(gateway, connection["id"], "msg_1", new_way=True) == 200
    assert await shown(gateway, key, connection["id"]) == "standard_webhooks"
    assert version(gateway) == before + 1
    for n in range(3):
        assert await post_polar(gateway, connection["id"], f"msg_again_{n}", new_way=True) == 200
    assert version(gateway) == before + 1

    assert await post_polar(gateway, connection["id"], "msg_old", new_way=False) == 200
    assert await shown(gateway, key, connection["id"]) == "secret_bytes"
    assert version(gateway) == before + 2
    assert len(gateway.store.documents("inbound_events")) == 5


async def test_a_failed_write_of_the_way_is_a_503_with_nothing_accepted(gateway: Gateway) -> None:
    _, key = await gateway.merchant()
    async with gateway.client(api_key=key) as client:
        connection = await create(
            client, "/v1/connections", {"provider": "polar", "webhook_secrets": [SECRET]}
        )
    gateway.store.failing_writes = True

    assert await post_polar(gateway, connection["id"], "msg_1", new_way=True) == 503

    gateway.store.failing_writes = False
    assert gateway.store.documents("inbound_events") == []
    assert await shown(gateway, key, connection["id"]) is None


async def test_a_refused_signature_writes_nothing(gateway: Gateway) -> None:
    _, key = await gateway.merchant()
    async with gateway.client(api_key=key) as client:
        connection = await create(
            client,
            "/v1/connections",
            {"provider": "polar", "webhook_secrets": ["whsec_b3RoZXItc2VjcmV0LWZvci10aGlz"]},
        )
    before = version(gateway)

    assert await post_polar(gateway, connection["id"], "msg_1", new_way=True) == 401

    assert version(gateway) == before
    assert await shown(gateway, key, connection["id"]) is None


@pytest.mark.parametrize("provider", ["stripe", "paddle"])
async def test_a_provider_that_signs_one_way_shows_none_and_writes_nothing(
    gateway: Gateway, provider: str
) -> None:
    _, key = await gateway.merchant()
    secret = "whsec_one_way_secret_1234"
    async with gateway.client(api_key=key) as client:
        connection = await create(
            client, "/v1/connections", {"provider": provider, "webhook_secrets": [secret]}
        )
    before = version(gateway)
    if provider == "stripe":
        body = event_body()
        headers = stripe_headers(body, secret, now_ts(gateway))
    else:
        body = paddle_subscription()
        headers = paddle_headers_by_hand(body, [secret], now_ts(gateway))

    async with gateway.client() as client:
        assert (
            await client.post(f"/webhooks/{provider}/{connection['id']}", content=body, headers=headers)
        ).status_code == 200

    assert version(gateway) == before
    assert await shown(gateway, key, connection["id"]) is None
