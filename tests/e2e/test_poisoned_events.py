"""Black box: signed events built to poison the store never stop `subgate dev` or a listing.

Any merchant chooses its own connection secrets, so any merchant can send a validly signed event
of any shape. A Stripe thin event dated in year 999 and times whose offset overflows are refused
at the door (400); a Polar subscription whose period lies in year 500 is stored, and its
processing fails naming the field. The service stays up, the next event is applied, the
subscriptions list answers, and `subgate status` sees the worker alive.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import orjson

from integrations.providers.polar import samples as polar
from integrations.providers.stripe.samples import signed_headers, subscription_event, thin_event_body
from tests.e2e.conftest import DevService
from tests.e2e.test_provider_events import connect, processed, subscription_of
from tests.support.cli import run_cli_result
from tests.support.signatures import POLAR_SECRET

STRIPE_SECRET = "whsec_e2e_poison"
OVERFLOWING = ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00")


def polar_subscription(sub_id: str, **times: str) -> bytes:
    """A Polar `subscription.updated` whose time fields are the given texts, verbatim."""
    document: dict[str, Any] = polar.subscription_object(sub_id=sub_id) | times
    return polar.polar_event("subscription.updated", document, timestamp=polar.T0)


async def post_polar(client: httpx.AsyncClient, url: str, body: bytes, message_id: str) -> httpx.Response:
    headers = polar.polar_headers(body, POLAR_SECRET, int(time.time()), message_id=message_id)
    return await client.post(url, content=body, headers=headers)


async def test_poisoned_events_neither_stop_dev_nor_break_the_listing(
    dev_service: DevService, client: httpx.AsyncClient
) -> None:
    stripe_connection = await connect(client, "stripe", STRIPE_SECRET)
    stripe_url = f"/webhooks/stripe/{stripe_connection['id']}"
    polar_connection = await connect(client, "polar", POLAR_SECRET)
    polar_url = f"/webhooks/polar/{polar_connection['id']}"

    for created in ("0999-12-31T00:00:00Z", *OVERFLOWING):
        thin = thin_event_body("customer.subscription.updated", "subscription", "sub_poison", created=created)
        refused = await client.post(
            stripe_url, content=thin, headers=signed_headers(thin, STRIPE_SECRET, int(time.time()))
        )
        assert refused.status_code == 400, (created, refused.text)
    for n, timestamp in enumerate(OVERFLOWING):
        body = orjson.dumps({"type": "subscription.updated", "timestamp": timestamp, "data": {}})
        assert (await post_polar(client, polar_url, body, f"msg_offset_{n}")).status_code == 400

    year_500 = polar_subscription("polar-poison", current_period_start="0500-01-01T00:00:00.000000Z")
    assert (await post_polar(client, polar_url, year_500, "msg_year_500")).json() == {"status": "accepted"}
    failed = await processed(client, polar_connection["id"], "msg_year_500")
    assert failed["status"] == "failed"
    assert "current_period_start is outside the times accepted" in failed["reason"]

    fine = polar_subscription("polar-fine")
    assert (await post_polar(client, polar_url, fine, "msg_fine")).json() == {"status": "accepted"}
    assert (await processed(client, polar_connection["id"], "msg_fine"))["status"] == "applied"
    snapshot = subscription_event("customer.subscription.created", event_id="evt_after", sub_id="sub_after")
    accepted = await client.post(
        stripe_url, content=snapshot, headers=signed_headers(snapshot, STRIPE_SECRET, int(time.time()))
    )
    assert accepted.json() == {"status": "accepted"}
    assert (await processed(client, stripe_connection["id"], "evt_after"))["status"] == "applied"

    listed = await client.get("/v1/subscriptions")
    assert listed.status_code == 200, listed.text
    assert (await subscription_of(client, "polar-fine"))["status"] == "active"
    assert dev_service.process.process.poll() is None, dev_service.process.log_tail()
    ready = (await client.get("/readyz")).json()
    assert ready["workers"]["alive"] >= 1
    status = await run_cli_result("status", env=dev_service.env, cwd=dev_service.cwd)
    assert status.code == 0, status.stderr
    assert "1 alive" in status.stdout
