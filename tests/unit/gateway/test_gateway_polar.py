"""`POST /webhooks/polar/{connection_id}`: the contract's answers for Standard Webhooks signatures."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from domain.merchants.external import NewConnection
from domain.merchants.model import Connection
from domain.shared.work import WorkKind
from integrations.providers.polar.adapter import PolarAdapter
from integrations.providers.polar.samples import polar_headers, subscription_event
from integrations.providers.stripe.adapter import StripeAdapter
from tests.support.signatures import POLAR_SECRET as SECRET, svix_style_headers
from tests.unit.gateway.fakes import Gateway, make_gateway
from tests.unit.gateway.webhooks import assert_nothing_kept, now_ts, post


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    built = make_gateway(tmp_path, providers={"stripe": StripeAdapter(), "polar": PolarAdapter()})
    yield built
    built.deps.telemetry.shutdown()


async def polar_connection(gateway: Gateway, secrets: tuple[str, ...] = (SECRET,)) -> Connection:
    merchant, _ = await gateway.merchant()
    new = NewConnection(provider="polar", webhook_secrets=secrets)
    return await gateway.deps.merchants.create_connection(merchant.id, new)


async def test_a_signed_polar_event_is_stored_under_its_webhook_id(gateway: Gateway) -> None:
    connection = await polar_connection(gateway)
    body = subscription_event("subscription.active")
    headers = polar_headers(body, SECRET, now_ts(gateway), message_id="msg_2x9")

    assert await post(gateway, connection.id, body, headers, provider="polar") == (
        200,
        {"status": "accepted"},
    )
    [stored] = gateway.store.documents("inbound_events")
    assert base64.b64decode(stored["body"]) == body
    assert (stored["provider"], stored["provider_event_id"], stored["type"]) == (
        "polar",
        "msg_2x9",
        "subscription.active",
    )
    assert gateway.signal.kinds == [WorkKind.INBOUND]


async def test_the_same_webhook_id_twice_is_a_duplicate(gateway: Gateway) -> None:
    connection = await polar_connection(gateway)
    body = subscription_event()
    headers = polar_headers(body, SECRET, now_ts(gateway), message_id="msg_once")

    await post(gateway, connection.id, body, headers, provider="polar")
    assert await post(gateway, connection.id, body, headers, provider="polar") == (
        200,
        {"status": "duplicate"},
    )


async def test_a_signature_keyed_the_svix_way_is_401(gateway: Gateway) -> None:
    connection = await polar_connection(gateway)
    body = subscription_event()
    headers = svix_style_headers(body, SECRET, now_ts(gateway), "msg_svix")

    status, answer = await post(gateway, connection.id, body, headers, provider="polar")

    assert status == 401
    assert answer["error"]["type"] == "invalid_signature"
    assert_nothing_kept(gateway)


@pytest.mark.parametrize("skew", [301, -301], ids=["old", "future"])
async def test_a_timestamp_outside_the_tolerance_is_401(gateway: Gateway, skew: int) -> None:
    connection = await polar_connection(gateway)
    body = subscription_event()
    headers = polar_headers(body, SECRET, now_ts(gateway) - skew)

    assert (await post(gateway, connection.id, body, headers, provider="polar"))[0] == 401
    assert_nothing_kept(gateway)


@pytest.mark.parametrize("dropped", ["webhook-id", "webhook-timestamp", "webhook-signature"])
async def test_a_missing_signature_header_is_400(gateway: Gateway, dropped: str) -> None:
    connection = await polar_connection(gateway)
    body = subscription_event()
    headers = polar_headers(body, SECRET, now_ts(gateway))
    del headers[dropped]

    assert (await post(gateway, connection.id, body, headers, provider="polar"))[0] == 400
    assert_nothing_kept(gateway)


async def test_a_stripe_signature_on_the_polar_url_is_400(gateway: Gateway) -> None:
    connection = await polar_connection(gateway)
    body = subscription_event()
    headers = {"content-type": "application/json", "stripe-signature": "t=1,v1=" + "0" * 64}

    assert (await post(gateway, connection.id, body, headers, provider="polar"))[0] == 400


async def test_a_polar_connection_on_the_stripe_url_is_404(gateway: Gateway) -> None:
    connection = await polar_connection(gateway)
    body = subscription_event()

    status, _ = await post(gateway, connection.id, body, polar_headers(body, SECRET, now_ts(gateway)))

    assert status == 404
