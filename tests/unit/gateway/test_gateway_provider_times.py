"""Times at the edges of the calendar at the door and in REST inputs: a 4xx, never a 500.

A provider time outside 1970-01-01T00:00:00Z .. 9999-12-31T23:59:59Z, or with an offset that
overflows on its way to UTC, is a malformed event (400) and nothing is kept; a REST time whose
offset overflows is a validation error (422) naming the field.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from domain.merchants.external import NewConnection
from integrations.providers.polar import samples as polar_events
from integrations.providers.polar.adapter import PolarAdapter
from integrations.providers.stripe.adapter import StripeAdapter
from integrations.providers.stripe.samples import thin_event_body
from tests.support.signatures import POLAR_SECRET
from tests.unit.gateway.fakes import Gateway, make_gateway
from tests.unit.gateway.seed import assert_error
from tests.unit.gateway.webhooks import (
    SECRET,
    assert_nothing_kept,
    now_ts,
    post,
    stripe_connection,
    stripe_headers,
)

OVERFLOWING = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"]
OUTSIDE = ["0999-12-31T00:00:00Z", "1969-12-31T23:59:59Z", "0001-01-01T00:00:00Z"]


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    built = make_gateway(tmp_path, providers={"stripe": StripeAdapter(), "polar": PolarAdapter()})
    yield built
    built.deps.telemetry.shutdown()


@pytest.mark.parametrize("created", OVERFLOWING + OUTSIDE)
async def test_a_stripe_thin_event_created_outside_the_range_is_400(gateway: Gateway, created: str) -> None:
    connection = await stripe_connection(gateway)
    body = thin_event_body("customer.subscription.updated", "subscription", "sub_1", created=created)

    status, answer = await post(gateway, connection.id, body, stripe_headers(body, SECRET, now_ts(gateway)))

    assert status == 400
    assert answer["error"]["type"] == "invalid_request"
    assert "created is outside the times accepted" in answer["error"]["message"]
    assert_nothing_kept(gateway)


@pytest.mark.parametrize("created", [b"-1", b"253402300800", b"1" + b"0" * 30, b"1e300", b"1.5"])
async def test_a_stripe_event_created_at_an_unrepresentable_unix_time_is_400(
    gateway: Gateway, created: bytes
) -> None:
    connection = await stripe_connection(gateway)
    body = b'{"id": "evt_1", "type": "invoice.paid", "created": ' + created + b', "data": {"object": {}}}'

    status, _ = await post(gateway, connection.id, body, stripe_headers(body, SECRET, now_ts(gateway)))

    assert status == 400
    assert_nothing_kept(gateway)


@pytest.mark.parametrize("timestamp", OVERFLOWING + OUTSIDE)
async def test_a_polar_event_timestamped_outside_the_range_is_400(gateway: Gateway, timestamp: str) -> None:
    merchant, _ = await gateway.merchant()
    connection = await gateway.deps.merchants.create_connection(
        merchant.id, NewConnection(provider="polar", webhook_secrets=(POLAR_SECRET,))
    )
    body = orjson.dumps({"type": "subscription.updated", "timestamp": timestamp, "data": {}})
    headers = polar_events.polar_headers(body, POLAR_SECRET, now_ts(gateway))

    status, answer = await post(gateway, connection.id, body, headers, provider="polar")

    assert status == 400
    assert "timestamp is outside the times accepted" in answer["error"]["message"]
    assert_nothing_kept(gateway)


@pytest.mark.parametrize("since", OVERFLOWING)
async def test_a_replay_since_an_overflowing_offset_is_422_naming_the_field(
    gateway: Gateway, since: str
) -> None:
    _, key = await gateway.merchant()
    async with gateway.client(api_key=key) as client:
        response = await client.post("/v1/dead-letters/replay", json={"since": since})

    assert_error(response, 422, "validation_error")
    assert response.json()["error"]["message"].startswith("since")


@pytest.mark.parametrize(
    "since", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z", "0001-01-01T00:00:00-01:00"]
)
async def test_a_replay_since_the_edges_of_the_calendar_is_answered(gateway: Gateway, since: str) -> None:
    _, key = await gateway.merchant()
    async with gateway.client(api_key=key) as client:
        response = await client.post("/v1/dead-letters/replay", json={"since": since})

    assert response.status_code == 200, response.text
    assert response.json()["replayed"] == 0
