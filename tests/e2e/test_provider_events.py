"""Black box: provider events through `subgate dev`, out of order, from Polar, across a rotation."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from integrations.providers.polar import samples as polar
from integrations.providers.stripe.samples import signed_headers, subscription_event
from tests.e2e.conftest import DevService
from tests.support.receiver import Receiver, running_receiver
from tests.support.service_processes import eventually
from tests.support.signatures import POLAR_SECRET, svix_style_headers

STRIPE_SECRET = "whsec_e2e_provider_truth"
ROTATED_SECRET = "whsec_e2e_rotated_secret"


async def connect(client: httpx.AsyncClient, provider: str, secret: str) -> dict[str, Any]:
    response = await client.post("/v1/connections", json={"provider": provider, "webhook_secrets": [secret]})
    assert response.status_code == 201, response.text
    connection: dict[str, Any] = response.json()
    return connection


async def listen(client: httpx.AsyncClient, receiver: Receiver) -> None:
    response = await client.post("/v1/endpoints", json={"url": receiver.url})
    assert response.status_code == 201, response.text


async def processed(client: httpx.AsyncClient, connection_id: str, provider_event_id: str) -> dict[str, Any]:
    """Wait until a worker has taken the event to a final status; the event."""
    found: dict[str, Any] = {}

    async def done() -> bool:
        events = (await client.get("/v1/inbound-events", params={"connection_id": connection_id})).json()
        for event in events["data"]:
            if event["provider_event_id"] == provider_event_id and event["status"] != "accepted":
                found.update(event)
                return True
        return False

    await eventually(done, f"event {provider_event_id} is processed")
    return found


async def subscription_of(client: httpx.AsyncClient, provider_subscription_id: str) -> dict[str, Any]:
    listed = await client.get(
        "/v1/subscriptions", params={"provider_subscription_id": provider_subscription_id}
    )
    [subscription] = listed.json()["data"]
    result: dict[str, Any] = subscription
    return result


def types_received(receiver: Receiver) -> list[str]:
    return [json.loads(r.body)["type"] for r in receiver.received]


async def test_a_stale_snapshot_never_wins_and_a_rotated_secret_is_final(
    dev_service: DevService, client: httpx.AsyncClient
) -> None:
    now = int(time.time())
    t0, t1, t2 = now - 3000, now - 2000, now - 1000
    sequence = [
        ("evt_e2e_created", "customer.subscription.created", t0, "incomplete"),
        ("evt_e2e_past_due", "customer.subscription.updated", t2, "past_due"),
        ("evt_e2e_active", "customer.subscription.updated", t1, "active"),
    ]
    async with running_receiver() as receiver:
        connection = await connect(client, "stripe", STRIPE_SECRET)
        await listen(client, receiver)
        outcomes = []
        for event_id, event_type, created, status in sequence:
            body = subscription_event(
                event_type, event_id=event_id, created=created, sub_id="sub_e2e", status=status
            )
            headers = signed_headers(body, STRIPE_SECRET, int(time.time()))
            response = await client.post(
                f"/webhooks/stripe/{connection['id']}", content=body, headers=headers
            )
            assert response.json() == {"status": "accepted"}
            outcomes.append(await processed(client, connection["id"], event_id))
        await receiver.wait_for(2, deadline_seconds=30)

        assert (await subscription_of(client, "sub_e2e"))["status"] == "past_due"
        assert [o["status"] for o in outcomes] == ["applied", "applied", "ignored"]
        assert "older" in outcomes[2]["reason"]
        assert types_received(receiver) == ["subscription.created", "subscription.past_due"]
        deliveries = (await client.get("/v1/deliveries")).json()["data"]
        assert len(deliveries) == 2

    # Rotation: the old secret stops verifying at once, the new one verifies.
    rotated = await client.patch(
        f"/v1/connections/{connection['id']}", json={"webhook_secrets": [ROTATED_SECRET]}
    )
    assert rotated.status_code == 200
    body = subscription_event(
        event_id="evt_e2e_after_rotation", created=now, sub_id="sub_e2e", status="past_due"
    )
    url = f"/webhooks/stripe/{connection['id']}"
    old = await client.post(url, content=body, headers=signed_headers(body, STRIPE_SECRET, int(time.time())))
    new = await client.post(url, content=body, headers=signed_headers(body, ROTATED_SECRET, int(time.time())))
    assert (old.status_code, new.status_code) == (401, 200)

    # Deletion: later posts are 404; what it received stays listed.
    assert (await client.delete(f"/v1/connections/{connection['id']}")).status_code == 200
    gone = await client.post(
        url, content=body, headers=signed_headers(body, ROTATED_SECRET, int(time.time()))
    )
    assert gone.status_code == 404
    kept = (await client.get("/v1/inbound-events", params={"connection_id": connection["id"]})).json()["data"]
    assert len(kept) == 4


async def test_a_polar_lifecycle_moves_a_subscription_and_notifies(
    dev_service: DevService, client: httpx.AsyncClient
) -> None:
    secret = POLAR_SECRET
    base = polar.T0.replace(year=2026)
    lifecycle = [
        ("msg_e2e_1", "subscription.created", {"status": "incomplete", "modified_at": base}),
        ("msg_e2e_2", "subscription.active", {"status": "active", "modified_at": base.replace(second=5)}),
        (
            "msg_e2e_3",
            "subscription.canceled",
            {"status": "active", "cancel_at_period_end": True, "modified_at": base.replace(minute=5)},
        ),
        ("msg_e2e_4", "subscription.revoked", {"status": "canceled", "modified_at": base.replace(minute=9)}),
    ]
    async with running_receiver() as receiver:
        connection = await connect(client, "polar", secret)
        await listen(client, receiver)
        url = f"/webhooks/polar/{connection['id']}"

        body = polar.subscription_event("subscription.created", sub_id="polar-e2e")
        svix_style = svix_style_headers(body, secret, int(time.time()), "msg_e2e_svix")
        assert (await client.post(url, content=body, headers=svix_style)).status_code == 401

        for message_id, event_type, fields in lifecycle:
            body = polar.subscription_event(event_type, sub_id="polar-e2e", **fields)
            headers = polar.polar_headers(body, secret, int(time.time()), message_id=message_id)
            response = await client.post(url, content=body, headers=headers)
            assert response.json() == {"status": "accepted"}, response.text
            assert (await processed(client, connection["id"], message_id))["status"] == "applied"
        await receiver.wait_for(4, deadline_seconds=30)

    subscription = await subscription_of(client, "polar-e2e")
    assert (subscription["provider"], subscription["status"]) == ("polar", "canceled")
    assert types_received(receiver) == [
        "subscription.created",
        "subscription.activated",
        "subscription.updated",
        "subscription.canceled",
    ]
