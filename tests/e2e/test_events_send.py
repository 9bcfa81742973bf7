"""`subgate events send` against a running `subgate dev`: a connection made over REST, events from the CLI."""

from __future__ import annotations

import asyncio
import re

import httpx

from tests.e2e.conftest import DevService
from tests.support.cli import run_cli

STRIPE_SECRET = "whsec_events_send_secret"


async def _send(dev_service: DevService, *args: str) -> tuple[str, str]:
    """Run `subgate events send stripe ARGS`; (the provider subscription id, the service's answer)."""
    out = await run_cli("events", "send", "stripe", *args, env=dev_service.env, cwd=dev_service.cwd)
    sent, answer = out.splitlines()
    subscription = re.search(r"\(subscription (sub_\w+),", sent)
    assert subscription is not None, sent
    return subscription.group(1), answer


async def _subscription(client: httpx.AsyncClient, provider_id: str, status: str) -> dict[str, object]:
    """Poll until the worker has applied the event that gives the subscription `status`."""
    async with asyncio.timeout(20):
        while True:
            found = (
                await client.get("/v1/subscriptions", params={"provider_subscription_id": provider_id})
            ).json()
            if found["data"] and found["data"][0]["status"] == status:
                subscription: dict[str, object] = found["data"][0]
                return subscription
            await asyncio.sleep(0.05)  # polling the running service, bounded by the timeout above


async def test_events_from_the_cli_drive_a_subscription(
    client: httpx.AsyncClient, dev_service: DevService
) -> None:
    created = await client.post(
        "/v1/connections", json={"provider": "stripe", "webhook_secrets": [STRIPE_SECRET]}
    )
    assert created.status_code == 201
    connection = created.json()["id"]

    sub, answer = await _send(dev_service, "customer.subscription.created", "--connection", connection)
    assert answer == '200 {"status":"accepted"}'
    shown = await _subscription(client, sub, "active")
    assert shown["provider"] == "stripe"
    assert shown["current_period_end"] is not None

    _, answer = await _send(
        dev_service,
        "customer.subscription.updated",
        "--connection",
        connection,
        "--subscription",
        sub,
        "--status",
        "past_due",
        "--event-id",
        "evt_cli_update",
    )
    assert answer == '200 {"status":"accepted"}'
    await _subscription(client, sub, "past_due")

    _, again = await _send(
        dev_service,
        "customer.subscription.updated",
        "--connection",
        connection,
        "--subscription",
        sub,
        "--event-id",
        "evt_cli_update",
    )
    assert again == '200 {"status":"duplicate"}'

    _, paid = await _send(dev_service, "invoice.paid", "--connection", connection, "--subscription", sub)
    assert paid == '200 {"status":"accepted"}'

    _, deleted = await _send(
        dev_service, "customer.subscription.deleted", "--connection", connection, "--subscription", sub
    )
    assert deleted == '200 {"status":"accepted"}'
    await _subscription(client, sub, "canceled")

    events = (await client.get("/v1/inbound-events", params={"connection_id": connection})).json()["data"]
    assert [e["type"] for e in events] == [
        "customer.subscription.created",
        "customer.subscription.updated",
        "invoice.paid",
        "customer.subscription.deleted",
    ]


async def test_each_call_is_a_new_event_and_subscription(
    client: httpx.AsyncClient, dev_service: DevService
) -> None:
    created = await client.post(
        "/v1/connections", json={"provider": "stripe", "webhook_secrets": [STRIPE_SECRET]}
    )
    connection = created.json()["id"]

    first, _ = await _send(dev_service, "customer.subscription.created", "--connection", connection)
    second, _ = await _send(dev_service, "customer.subscription.created", "--connection", connection)

    assert first != second
    await _subscription(client, first, "active")
    await _subscription(client, second, "active")
