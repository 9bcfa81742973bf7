"""Black box: `subgate dev` as a user starts it, driven only through HTTP and the CLI."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import orjson
from svix.webhooks import Webhook

from integrations.providers.stripe.signature import sign_stripe_payload
from tests.e2e.conftest import DevService
from tests.support.cli import run_cli
from tests.support.receiver import running_receiver

STRIPE_SECRET = "whsec_e2e_stripe_secret"


def _event(event_id: str, subscription_id: str) -> bytes:
    now = int(time.time())
    return orjson.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": "customer.subscription.created",
            "created": now,
            "data": {
                "object": {
                    "id": subscription_id,
                    "object": "subscription",
                    "customer": "cus_e2e",
                    "status": "active",
                    "cancel_at_period_end": False,
                    "canceled_at": None,
                    "trial_end": None,
                    "metadata": {},
                    "items": {
                        "object": "list",
                        "data": [
                            {
                                "id": "si_e2e",
                                "current_period_start": now,
                                "current_period_end": now + 86400 * 30,
                                "price": {
                                    "id": "price_e2e",
                                    "currency": "eur",
                                    "unit_amount": 900,
                                    "recurring": {"interval": "month", "interval_count": 1},
                                },
                            }
                        ],
                    },
                }
            },
        }
    )


async def _setup(client: httpx.AsyncClient, receiver_url: str) -> tuple[str, str]:
    conn = await client.post(
        "/v1/connections", json={"provider": "stripe", "webhook_secrets": [STRIPE_SECRET]}
    )
    endpoint = await client.post("/v1/endpoints", json={"url": receiver_url})
    assert conn.status_code == endpoint.status_code == 201
    return conn.json()["webhook_url"], endpoint.json()["secret"]


async def _post(client: httpx.AsyncClient, webhook_url: str, body: bytes) -> str:
    headers = {
        "content-type": "application/json",
        "stripe-signature": sign_stripe_payload(body, STRIPE_SECRET, int(time.time())),
    }
    response = await client.post(webhook_url, content=body, headers=headers)
    assert response.status_code == 200, response.text
    status: str = response.json()["status"]
    return status


async def _wait_for_delivery_status(
    client: httpx.AsyncClient, status: str, count: int
) -> list[dict[str, object]]:
    async with asyncio.timeout(20):
        while True:
            deliveries: list[dict[str, object]] = (await client.get("/v1/deliveries")).json()["data"]
            if len(deliveries) >= count and all(d["status"] == status for d in deliveries):
                return deliveries
            await asyncio.sleep(0.05)  # polling the running service, bounded by the timeout above


async def test_event_to_signed_notification_then_duplicate(client: httpx.AsyncClient) -> None:
    async with running_receiver() as receiver:
        webhook_url, endpoint_secret = await _setup(client, receiver.url)
        body = _event("evt_e2e_1", "sub_e2e_1")
        assert await _post(client, webhook_url, body) == "accepted"
        await receiver.wait_for(1)
        Webhook(endpoint_secret).verify(receiver.received[0].body, receiver.received[0].headers)

        found = await client.get("/v1/subscriptions", params={"provider_subscription_id": "sub_e2e_1"})
        assert [s["status"] for s in found.json()["data"]] == ["active"]

        assert await _post(client, webhook_url, body) == "duplicate"
        await _wait_for_delivery_status(client, "succeeded", 1)
        assert len((await client.get("/v1/inbound-events")).json()["data"]) == 1
        assert len((await client.get("/v1/deliveries")).json()["data"]) == 1
        assert len(receiver.received) == 1


async def test_failing_endpoint_becomes_dead_letter_visible_to_cli(
    client: httpx.AsyncClient, dev_service: DevService
) -> None:
    async with running_receiver(status_for=lambda _n: 500) as receiver:
        webhook_url, _ = await _setup(client, receiver.url)
        assert await _post(client, webhook_url, _event("evt_e2e_2", "sub_e2e_2")) == "accepted"
        await _wait_for_delivery_status(client, "dead", 1)
        assert len(receiver.received) == 3  # len(schedule) + 1

    dead = (await client.get("/v1/dead-letters")).json()["data"]
    assert len(dead) == 1
    listed = await run_cli("dlq", "list", "--json", env=dev_service.env, cwd=dev_service.cwd)
    assert [row["id"] for row in json.loads(listed)] == [dead[0]["id"]]
