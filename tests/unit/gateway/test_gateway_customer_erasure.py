"""`POST /v1/customers/{id}/erase`: the customer's personal data leaves the customer record, its
emails and the stored provider events that name it; nothing of anyone else changes; twice is
once; another merchant's customer is 404."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import httpx

from domain.inbound.model import InboundEvent, InboundStatus
from domain.merchants.model import Merchant
from domain.notifications.model import Attempt, Channel, DeadLetter, DeadLetterKind, Delivery, DeliveryStatus
from domain.shared.ids import new_id
from integrations.providers.stripe import samples as stripe_events
from integrations.stores.repositories import StoreUnit
from tests.unit.gateway.fakes import Gateway
from tests.unit.gateway.seed import assert_error, create

ADA = "ada@example.com"
ADDRESS = {"line1": "1 Analytical Row", "city": "London", "country": "GB"}


async def stored_event(gateway: Gateway, merchant: Merchant, body: bytes, **extra: Any) -> str:
    now = gateway.clock()
    event = InboundEvent(
        id=new_id("evt"),
        merchant_id=merchant.id,
        connection_id="conn_1",
        provider="stripe",
        provider_event_id=new_id("evt_stripe"),
        type="invoice.paid",
        status=InboundStatus.APPLIED,
        source_ip=None,
        received_at=now,
        body=body,
        **extra,
    )

    async def work(unit: StoreUnit) -> None:
        await unit.inbound_events.add_if_new(event)

    await gateway.run(work)
    return event.id


def invoice(customer: str, email: str) -> bytes:
    obj = stripe_events.invoice_object(customer=customer) | {
        "customer_email": email,
        "customer_name": "Ada Lovelace",
        "customer_address": ADDRESS,
    }
    return stripe_events.event_body("invoice.paid", obj)


async def email(
    gateway: Gateway, merchant: Merchant, customer_id: str, status: DeliveryStatus, to: str = ADA
) -> Delivery:
    now = gateway.clock()
    delivery = Delivery(
        id=new_id("dlv"),
        merchant_id=merchant.id,
        endpoint_id=None,
        message_id=new_id("msg"),
        event_type="payment.failed",
        status=status,
        attempts=(
            Attempt(
                at=now,
                status_code=550,
                duration_ms=40,
                error=f"SMTP 550 <{to.upper()}>: mailbox full",
                response_excerpt=f"To: {to}\nSubject: Your payment failed\n\nHello",
            ),
        ),
        next_attempt_at=now + timedelta(minutes=5) if status == DeliveryStatus.FAILED else None,
        created_at=now,
        updated_at=now,
        channel=Channel.EMAIL,
        recipient=to,
        lane=f"email:{to}|sub_1",
        customer_id=customer_id,
    )

    async def work(unit: StoreUnit) -> None:
        await unit.deliveries.add(delivery)
        if status == DeliveryStatus.DEAD:
            reason = f"gave up after 1 attempts; last: SMTP 550 {to}"
            letter = DeadLetter(
                id=new_id("dl"),
                merchant_id=merchant.id,
                kind=DeadLetterKind.EMAIL,
                delivery_id=delivery.id,
                reason=reason,
                created_at=now,
            )
            await unit.dead_letters.add(letter)

    await gateway.run(work)
    return delivery


def docs(gateway: Gateway, collection: str) -> dict[str, dict[str, Any]]:
    return {d["id"]: d for d in gateway.store.documents(collection)}


async def test_the_customers_personal_data_goes_everywhere_and_nobody_elses(gateway: Gateway) -> None:
    merchant, key = await gateway.merchant("Acme")
    other, _ = await gateway.merchant("Other")
    async with gateway.client(api_key=key) as client:
        ada = await create(
            client,
            "/v1/customers",
            {"email": ADA, "name": "Ada", "provider_customer_ids": {"stripe": "cus_ada"}},
        )
        bob = await create(client, "/v1/customers", {"email": "bob@example.com"})
        mine = await stored_event(gateway, merchant, invoice("cus_ada", ADA))
        by_address = await stored_event(gateway, merchant, invoice("cus_old", "ADA@example.com"))
        bobs = await stored_event(gateway, merchant, invoice("cus_bob", "bob@example.com"))
        elsewhere = await stored_event(gateway, other, invoice("cus_ada", ADA))
        sent = await email(gateway, merchant, ada["id"], DeliveryStatus.SUCCEEDED, to="ada@old.example")
        waiting = await email(gateway, merchant, ada["id"], DeliveryStatus.FAILED)
        dead = await email(gateway, merchant, ada["id"], DeliveryStatus.DEAD)
        to_bob = await email(gateway, merchant, bob["id"], DeliveryStatus.SUCCEEDED, to="bob@example.com")
        events_before, emails_before = docs(gateway, "inbound_events"), docs(gateway, "deliveries")

        response = await client.post(f"/v1/customers/{ada['id']}/erase")
        shown = (await client.get(f"/v1/customers/{ada['id']}")).json()

    assert response.status_code == 200, response.text
    assert response.json() == {**ada, "email": None, "name": None, "erased_at": "2025-01-15T12:00:00.000000Z"}
    assert shown == response.json()
    events, emails = docs(gateway, "inbound_events"), docs(gateway, "deliveries")
    for event_id in (mine, by_address):
        body = stripe_events_object(events[event_id])
        assert [body[k] for k in ("customer_email", "customer_name", "customer_address")] == [None] * 3
        assert body["amount_paid"] == 2000
    for untouched in (bobs, elsewhere):
        assert events[untouched] == events_before[untouched]
    assert emails[to_bob.id] == emails_before[to_bob.id]
    for delivery in (sent, waiting, dead):
        erased = emails[delivery.id]
        assert (erased["recipient"], erased["lane"], erased["erased_at"]) == (
            None,
            None,
            "2025-01-15T12:00:00.000000Z",
        )
        [attempt] = erased["attempts"]
        assert attempt["response_excerpt"] is None
        assert attempt["error"] == "SMTP 550 <[redacted]>: mailbox full"
        assert attempt["status_code"] == 550
    assert emails[waiting.id]["status"] == "canceled"  # never sent now
    assert emails[sent.id]["status"] == "succeeded"
    [letter] = gateway.store.documents("dead_letters")
    assert letter["reason"] == "gave up after 1 attempts; last: SMTP 550 [redacted]"
    stored = docs(gateway, "customers")[ada["id"]]
    assert (stored["email"], stored["name"], stored["provider_customer_ids"]) == (
        None,
        None,
        {"stripe": "cus_ada"},
    )


def stripe_events_object(doc: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(base64.b64decode(doc["body"]))["data"]["object"]
    return found


async def test_erasing_twice_answers_the_same_and_changes_nothing_more(gateway: Gateway) -> None:
    merchant, key = await gateway.merchant()
    async with gateway.client(api_key=key) as client:
        ada = await create(
            client, "/v1/customers", {"email": ADA, "provider_customer_ids": {"stripe": "cus_ada"}}
        )
        await stored_event(gateway, merchant, invoice("cus_ada", ADA))
        await email(gateway, merchant, ada["id"], DeliveryStatus.FAILED)
        first = await client.post(f"/v1/customers/{ada['id']}/erase")
        after_first = {c: gateway.store.documents(c) for c in ("customers", "deliveries", "inbound_events")}
        gateway.clock.advance(60)

        second = await client.post(f"/v1/customers/{ada['id']}/erase")

    assert (first.status_code, second.status_code) == (200, 200)
    assert first.json() == second.json()
    assert {c: gateway.store.documents(c) for c in after_first} == after_first


async def test_another_merchants_customer_is_404_and_keeps_everything(gateway: Gateway) -> None:
    owner, owner_key = await gateway.merchant("Owner")
    _, intruder_key = await gateway.merchant("Intruder")
    async with gateway.client(api_key=owner_key) as client:
        ada = await create(
            client, "/v1/customers", {"email": ADA, "provider_customer_ids": {"stripe": "cus_ada"}}
        )
    await stored_event(gateway, owner, invoice("cus_ada", ADA))
    await email(gateway, owner, ada["id"], DeliveryStatus.FAILED)
    before = {c: gateway.store.documents(c) for c in ("customers", "deliveries", "inbound_events")}

    async with gateway.client(api_key=intruder_key) as intruder:
        response = await intruder.post(f"/v1/customers/{ada['id']}/erase")
        missing = await intruder.post("/v1/customers/cus_nope/erase")

    assert_error(response, 404, "not_found")
    assert_error(missing, 404, "not_found")
    assert {c: gateway.store.documents(c) for c in before} == before


async def test_an_erased_customer_cannot_get_an_address_or_name_back_nor_its_emails_be_sent_again(
    gateway: Gateway,
) -> None:
    merchant, key = await gateway.merchant()
    async with gateway.client(api_key=key) as client:
        ada = await create(client, "/v1/customers", {"email": ADA, "name": "Ada"})
        dead = await email(gateway, merchant, ada["id"], DeliveryStatus.DEAD)
        await client.post(f"/v1/customers/{ada['id']}/erase")

        again = await client.patch(f"/v1/customers/{ada['id']}", json={"email": ADA})
        renamed = await client.patch(f"/v1/customers/{ada['id']}", json={"name": "Ada"})
        linked = await client.patch(
            f"/v1/customers/{ada['id']}", json={"provider_customer_ids": {"stripe": "cus_ada"}}
        )
        retry = await client.post(f"/v1/deliveries/{dead.id}/retry")
        [letter] = (await client.get("/v1/dead-letters")).json()["data"]
        replay = await client.post(f"/v1/dead-letters/{letter['id']}/replay")

    assert_error(again, 409, "customer_erased")
    assert_error(renamed, 409, "customer_erased")
    assert linked.status_code == 200, linked.text
    assert (linked.json()["email"], linked.json()["name"]) == (None, None)
    assert_error(retry, 409, "customer_erased")
    assert_error(replay, 409, "customer_erased")


async def test_the_erase_route_is_documented(gateway: Gateway) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=gateway.app), base_url="http://gateway.test"
    ) as client:
        document = (await client.get("/openapi.json")).json()

    operation = document["paths"]["/v1/customers/{customer_id}/erase"]["post"]
    assert operation["operationId"] == "customers_erase"
    assert {"200", "404", "401"} <= set(operation["responses"])
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("/Customer")
