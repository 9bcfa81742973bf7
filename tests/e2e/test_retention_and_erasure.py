"""Retention and erasure through `subgate dev`, as an operator and a merchant meet them: the
purge runs in a second terminal beside the service, the erasure over REST."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from integrations.providers.stripe.samples import T0, signed_headers, subscription_event
from tests.e2e.conftest import DevService
from tests.support.cli import run_cli, run_cli_result
from tests.support.receiver import running_receiver
from tests.support.service_processes import (
    STRIPE_SECRET,
    connect_stripe,
    eventually,
    post_subscription_created,
)

FUTURE = "2999-01-01T00:00:00Z"


async def listed(client: httpx.AsyncClient, path: str, **params: str) -> list[dict[str, Any]]:
    response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["data"]
    return found


async def post_event(client: httpx.AsyncClient, webhook_url: str, body: bytes) -> None:
    response = await client.post(
        webhook_url, content=body, headers=signed_headers(body, STRIPE_SECRET, int(time.time()))
    )
    assert response.status_code == 200, response.text


async def test_a_purge_beside_the_service_empties_payloads_keeps_metadata_and_replays_refuse(
    dev_service: DevService, client: httpx.AsyncClient
) -> None:
    async with running_receiver(status_for=lambda _n: 500) as receiver:
        webhook_url = await connect_stripe(client)
        endpoint = await client.post("/v1/endpoints", json={"url": receiver.url})
        assert endpoint.status_code == 201, endpoint.text
        await post_subscription_created(client, webhook_url, "sub_purged")

        async def dead() -> bool:
            return len(await listed(client, "/v1/dead-letters")) == 1

        await eventually(dead, "the notification is a dead letter")
    [event] = await listed(client, "/v1/inbound-events")
    [delivery] = await listed(client, "/v1/deliveries")
    [letter] = await listed(client, "/v1/dead-letters")
    env, cwd = dev_service.env, dev_service.cwd

    planned = json.loads(
        await run_cli("purge", "--payloads-before", FUTURE, "--dry-run", "--json", env=env, cwd=cwd)
    )
    done = json.loads(await run_cli("purge", "--payloads-before", FUTURE, "--json", env=env, cwd=cwd))
    again = json.loads(await run_cli("purge", "--payloads-before", FUTURE, "--json", env=env, cwd=cwd))

    assert planned["counts"] == done["counts"]
    assert (done["counts"]["inbound_payloads"], done["counts"]["outbox_payloads"]) == (1, 1)
    assert done["counts"]["delivery_payloads"] == 1
    assert done["counts"]["inbound_events"] == done["counts"]["deliveries"] == 0  # records stay
    assert again["total"] == 0
    [after] = await listed(client, "/v1/inbound-events")
    [delivered] = await listed(client, "/v1/deliveries")
    assert after["payload_expired_at"] is not None
    assert {k: after[k] for k in after if k != "payload_expired_at"} == {
        k: event[k] for k in event if k != "payload_expired_at"
    }
    assert delivered["payload_expired_at"] is not None
    assert (delivered["status"], len(delivered["attempts"])) == ("dead", len(delivery["attempts"]))
    replay = await client.post(f"/v1/dead-letters/{letter['id']}/replay")
    reprocess = await client.post(f"/v1/inbound-events/{event['id']}/reprocess")
    for refused in (replay, reprocess):
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["type"] == "payload_expired"
        assert after["payload_expired_at"][:10] in refused.json()["error"]["message"]
    from_cli = await run_cli_result("dlq", "replay", letter["id"], env=env, cwd=cwd)
    assert from_cli.code == 1
    assert f"{letter['id']} not replayed: payload_expired: " in from_cli.stdout


async def test_an_erased_customer_keeps_its_subscription_without_personal_data_or_emails(
    dev_service: DevService, client: httpx.AsyncClient
) -> None:
    async with running_receiver() as receiver:
        await erase_then_cancel(client, receiver.url)


async def erase_then_cancel(client: httpx.AsyncClient, endpoint_url: str) -> None:
    webhook_url = await connect_stripe(client)
    assert (await client.post("/v1/endpoints", json={"url": endpoint_url})).status_code == 201
    created = await client.post(
        "/v1/customers",
        json={"email": "ada@example.com", "name": "Ada", "provider_customer_ids": {"stripe": "cus_e2e_ada"}},
    )
    assert created.status_code == 201, created.text
    customer = created.json()
    for event_type, status, second in (
        ("customer.subscription.created", "trialing", 0),
        ("customer.subscription.updated", "active", 1),
    ):
        body = subscription_event(
            event_type, sub_id="sub_e2e_ada", customer="cus_e2e_ada", status=status, created=T0 + second
        )
        await post_event(client, webhook_url, body)

    async def emailed() -> bool:
        return len(await listed(client, "/v1/deliveries", channel="email")) == 1

    await eventually(emailed, "the activation email is recorded")
    [email] = await listed(client, "/v1/deliveries", channel="email")
    assert email["recipient"] == "ada@example.com"

    erased = await client.post(f"/v1/customers/{customer['id']}/erase")
    twice = await client.post(f"/v1/customers/{customer['id']}/erase")

    assert erased.status_code == twice.status_code == 200, erased.text
    assert (erased.json()["email"], erased.json()["name"]) == (None, None)
    shown = (await client.get(f"/v1/customers/{customer['id']}")).json()
    assert (shown["email"], shown["name"]) == (None, None)
    [email] = await listed(client, "/v1/deliveries", channel="email")
    assert email["recipient"] is None
    assert all(attempt["response_body"] is None for attempt in email["attempts"])
    canceled = subscription_event(
        "customer.subscription.deleted", sub_id="sub_e2e_ada", customer="cus_e2e_ada", created=T0 + 2
    )
    await post_event(client, webhook_url, canceled)

    async def canceled_told() -> bool:
        told = await listed(client, "/v1/deliveries", channel="webhook")
        return any(d["event_type"] == "subscription.canceled" and d["status"] == "succeeded" for d in told)

    # The webhook and the email of one notification are made together: once the merchant is
    # told, the email was decided.
    await eventually(canceled_told, "the merchant is told of the cancellation")
    [subscription] = await listed(client, "/v1/subscriptions", provider_subscription_id="sub_e2e_ada")
    assert subscription["status"] == "canceled"
    assert len(await listed(client, "/v1/deliveries", channel="email")) == 1  # none to it again
