"""REST for endpoint management, delivery retry and dead-letter replay, with tenant isolation.

Another merchant's ids answer 404 and change nothing; refusals use the one error shape.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx

from domain.merchants.model import Merchant
from domain.notifications.model import Attempt, DeadLetter, DeadLetterKind, Delivery, DeliveryStatus
from domain.shared.ids import new_id
from integrations.stores.repositories import StoreUnit
from tests.unit.gateway.fakes import Gateway
from tests.unit.gateway.seed import assert_error, create


async def two_merchants(gateway: Gateway) -> tuple[httpx.AsyncClient, Merchant, httpx.AsyncClient]:
    merchant, key = await gateway.merchant("Acme")
    _, other_key = await gateway.merchant("Other")
    return gateway.client(api_key=key), merchant, gateway.client(api_key=other_key)


async def dead_delivery(
    gateway: Gateway, merchant: Merchant, endpoint_id: str
) -> tuple[Delivery, DeadLetter]:
    now = gateway.clock()
    delivery = Delivery(
        id=new_id("dlv"),
        merchant_id=merchant.id,
        endpoint_id=endpoint_id,
        message_id=new_id("msg"),
        event_type="subscription.activated",
        status=DeliveryStatus.DEAD,
        attempts=(Attempt(at=now, status_code=500, duration_ms=3, error="HTTP 500"),),
        next_attempt_at=None,
        created_at=now,
        updated_at=now,
        lane=f"{endpoint_id}|sub_1",
    )
    letter = DeadLetter(
        id=new_id("dl"),
        merchant_id=merchant.id,
        kind=DeadLetterKind.WEBHOOK,
        delivery_id=delivery.id,
        reason="gave up after 1 attempts; last: HTTP 500",
        created_at=now,
    )

    async def work(unit: StoreUnit) -> None:
        await unit.deliveries.add(delivery)
        await unit.dead_letters.add(letter)

    await gateway.run(work)
    return delivery, letter


async def stored_delivery(gateway: Gateway, delivery_id: str) -> Delivery:
    async def work(unit: StoreUnit) -> Delivery | None:
        return await unit.deliveries.get(delivery_id)

    found = await gateway.run(work)
    assert found is not None
    return found


async def test_patch_changes_only_the_given_fields(gateway: Gateway) -> None:
    client, _, _ = await two_merchants(gateway)
    endpoint = await create(
        client, "/v1/endpoints", {"url": "https://a.example.com/hooks", "description": "main"}
    )

    response = await client.patch(
        f"/v1/endpoints/{endpoint['id']}",
        json={"url": "https://b.example.com/hooks", "event_types": ["payment.failed"], "enabled": False},
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["url"], body["event_types"], body["enabled"], body["description"]) == (
        "https://b.example.com/hooks",
        ["payment.failed"],
        False,
        "main",
    )
    assert "secret" not in body
    cleared = await client.patch(f"/v1/endpoints/{endpoint['id']}", json={"description": None})
    assert cleared.json()["description"] is None
    assert (await client.get(f"/v1/endpoints/{endpoint['id']}")).json()[
        "url"
    ] == "https://b.example.com/hooks"


async def test_patch_validates_like_create(gateway: Gateway) -> None:
    client, _, _ = await two_merchants(gateway)
    endpoint = await create(client, "/v1/endpoints", {"url": "https://a.example.com/hooks"})
    path = f"/v1/endpoints/{endpoint['id']}"

    for body in (
        {"enabled": "yes"},
        {"url": "ftp://a.example.com"},
        {"event_types": ["no.such.type"]},
        {"event_types": "payment.failed"},
        {"description": 5},
    ):
        assert_error(await client.patch(path, json=body), 422, "validation_error")
    assert (await client.get(path)).json()["enabled"] is True


async def test_rotate_secret_shows_the_new_secret_once_and_keeps_the_old_for_a_day(gateway: Gateway) -> None:
    client, merchant, _ = await two_merchants(gateway)
    endpoint = await create(client, "/v1/endpoints", {"url": "https://a.example.com/hooks"})

    response = await client.post(f"/v1/endpoints/{endpoint['id']}/rotate-secret")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["secret"].startswith("whsec_")
    assert body["secret"] != endpoint["secret"]
    assert body["previous_secrets_expire_at"] == "2025-01-16T12:00:00.000000Z"
    assert "secret" not in (await client.get(f"/v1/endpoints/{endpoint['id']}")).json()
    stored = await gateway.deps.notifications.get_endpoint(merchant.id, endpoint["id"])
    assert stored.signing_secrets(gateway.clock()) == (body["secret"], endpoint["secret"])
    assert stored.signing_secrets(gateway.clock() + timedelta(hours=24)) == (body["secret"],)


async def test_delete_hides_the_endpoint_and_cancels_its_waiting_deliveries(gateway: Gateway) -> None:
    client, merchant, _ = await two_merchants(gateway)
    endpoint = await create(client, "/v1/endpoints", {"url": "https://a.example.com/hooks"})
    waiting, _ = await dead_delivery(gateway, merchant, endpoint["id"])

    async def make_pending(unit: StoreUnit) -> None:
        await unit.deliveries.update(
            replace(waiting, status=DeliveryStatus.FAILED, next_attempt_at=gateway.clock())
        )

    await gateway.run(make_pending)

    response = await client.delete(f"/v1/endpoints/{endpoint['id']}")

    assert response.status_code == 200, response.text
    assert response.json() == {"id": endpoint["id"], "deleted": True, "canceled_deliveries": 1}
    assert_error(await client.get(f"/v1/endpoints/{endpoint['id']}"), 404, "not_found")
    assert (await client.get("/v1/endpoints")).json()["data"] == []
    assert (await client.get(f"/v1/deliveries/{waiting.id}")).json()["status"] == "canceled"
    assert_error(await client.delete(f"/v1/endpoints/{endpoint['id']}"), 404, "not_found")


async def test_another_merchants_ids_answer_404_and_change_nothing(gateway: Gateway) -> None:
    client, merchant, intruder = await two_merchants(gateway)
    endpoint = await create(client, "/v1/endpoints", {"url": "https://a.example.com/hooks"})
    delivery, letter = await dead_delivery(gateway, merchant, endpoint["id"])

    attempts: list[tuple[str, str, dict[str, Any] | None]] = [
        ("PATCH", f"/v1/endpoints/{endpoint['id']}", {"enabled": False}),
        ("DELETE", f"/v1/endpoints/{endpoint['id']}", None),
        ("POST", f"/v1/endpoints/{endpoint['id']}/rotate-secret", None),
        ("POST", f"/v1/deliveries/{delivery.id}/retry", None),
        ("POST", f"/v1/dead-letters/{letter.id}/replay", None),
    ]
    for method, path, body in attempts:
        assert_error(await intruder.request(method, path, json=body), 404, "not_found")
    bulk = await intruder.post("/v1/dead-letters/replay", json={})
    assert bulk.json()["replayed"] == 0

    after = (await client.get(f"/v1/endpoints/{endpoint['id']}")).json()
    assert after["enabled"] is True
    stored = await gateway.deps.notifications.get_endpoint(merchant.id, endpoint["id"])
    assert stored.signing_secrets(gateway.clock()) == (endpoint["secret"],)
    assert (await stored_delivery(gateway, delivery.id)).status == DeliveryStatus.DEAD
    assert [d["id"] for d in (await client.get("/v1/dead-letters")).json()["data"]] == [letter.id]


async def test_retry_makes_a_dead_delivery_due_now_and_wakes_the_workers(gateway: Gateway) -> None:
    client, merchant, _ = await two_merchants(gateway)
    endpoint = await create(client, "/v1/endpoints", {"url": "https://a.example.com/hooks"})
    delivery, _ = await dead_delivery(gateway, merchant, endpoint["id"])

    response = await client.post(f"/v1/deliveries/{delivery.id}/retry")

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["next_attempt_at"], body["message_id"]) == (
        "pending",
        "2025-01-15T12:00:00.000000Z",
        delivery.message_id,
    )
    assert len(body["attempts"]) == 1
    assert (await client.get("/v1/dead-letters")).json()["data"] == []


async def test_replay_one_and_in_bulk(gateway: Gateway) -> None:
    client, merchant, _ = await two_merchants(gateway)
    endpoint = await create(client, "/v1/endpoints", {"url": "https://a.example.com/hooks"})
    _, first = await dead_delivery(gateway, merchant, endpoint["id"])
    gateway.clock.advance(60)
    _, second = await dead_delivery(gateway, merchant, endpoint["id"])
    gateway.clock.advance(60)
    _, third = await dead_delivery(gateway, merchant, endpoint["id"])

    one = await client.post(f"/v1/dead-letters/{first.id}/replay")
    assert one.status_code == 200, one.text
    assert one.json()["delivery"]["status"] == "pending"
    assert_error(await client.post(f"/v1/dead-letters/{first.id}/replay"), 409, "conflict")

    since = await client.post(
        "/v1/dead-letters/replay", json={"since": "2025-01-15T12:02:00Z", "kind": "webhook"}
    )
    assert since.json() == {"replayed": 1, "dead_letter_ids": [third.id], "skipped": []}
    emails_only = await client.post("/v1/dead-letters/replay", json={"kind": "email"})
    assert emails_only.json()["replayed"] == 0
    rest = await client.post("/v1/dead-letters/replay")
    assert rest.json()["dead_letter_ids"] == [second.id]
    assert (await client.get("/v1/dead-letters")).json()["data"] == []


async def test_bulk_replay_validates_its_body(gateway: Gateway) -> None:
    client, _, _ = await two_merchants(gateway)

    for body in ({"kind": "sms"}, {"since": "yesterday"}, {"since": "2025-01-01T00:00:00"}, {"since": 5}):
        assert_error(await client.post("/v1/dead-letters/replay", json=body), 422, "validation_error")


async def test_replaying_to_a_disabled_endpoint_is_409_naming_what_to_do(gateway: Gateway) -> None:
    client, merchant, _ = await two_merchants(gateway)
    endpoint = await create(client, "/v1/endpoints", {"url": "https://a.example.com/hooks"})
    _, letter = await dead_delivery(gateway, merchant, endpoint["id"])
    await client.patch(f"/v1/endpoints/{endpoint['id']}", json={"enabled": False})

    response = await client.post(f"/v1/dead-letters/{letter.id}/replay")

    assert_error(response, 409, "conflict")
    assert "enabled: true" in response.json()["error"]["message"]
