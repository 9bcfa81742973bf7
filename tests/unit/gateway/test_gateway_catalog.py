"""`/v1/plans` and `/v1/customers`: created, listed, read and changed over REST; inputs refused with 422."""

from __future__ import annotations

from typing import Any

import pytest

from domain.subscriptions.commands import ProviderPrice, SyncSubscription
from domain.subscriptions.internal import SubscriptionsInternal
from domain.subscriptions.model import Interval
from domain.subscriptions.state_machine import SubscriptionStatus
from tests.unit.gateway.fakes import START, Gateway
from tests.unit.gateway.seed import assert_error, create

PLAN = {
    "name": "Pro monthly",
    "amount": 4900,
    "currency": "EUR",
    "interval": "month",
    "provider_price_ids": {"stripe": "price_pro"},
}
CUSTOMER = {"email": "ada@example.com", "name": "Ada", "provider_customer_ids": {"stripe": "cus_ada"}}


async def key_of(gateway: Gateway) -> str:
    _, key = await gateway.merchant()
    return key


# --------------------------------------------------------------------------- plans


async def test_a_plan_is_created_read_listed_and_renamed(gateway: Gateway) -> None:
    async with gateway.client(api_key=await key_of(gateway)) as client:
        plan = await create(client, "/v1/plans", PLAN)
        got = (await client.get(f"/v1/plans/{plan['id']}")).json()
        listed = (await client.get("/v1/plans")).json()
        renamed = await client.patch(f"/v1/plans/{plan['id']}", json={"name": "Pro", "archived": True})

    assert plan == {
        "id": plan["id"],
        "name": "Pro monthly",
        "amount": 4900,
        "currency": "eur",
        "interval": "month",
        "interval_count": 1,
        "trial_days": 0,
        "provider_price_ids": {"stripe": "price_pro"},
        "archived": False,
        "created_at": "2025-01-15T12:00:00.000000Z",
    }
    assert got == plan
    assert listed == {"data": [plan], "has_more": False}
    assert renamed.status_code == 200
    assert renamed.json() == {**plan, "name": "Pro", "archived": True}


async def test_plans_list_by_archived(gateway: Gateway) -> None:
    async with gateway.client(api_key=await key_of(gateway)) as client:
        old = await create(client, "/v1/plans", {**PLAN, "provider_price_ids": {}})
        new = await create(client, "/v1/plans", {**PLAN, "provider_price_ids": {}})
        await client.patch(f"/v1/plans/{old['id']}", json={"archived": True})
        archived = (await client.get("/v1/plans", params={"archived": "true"})).json()["data"]
        live = (await client.get("/v1/plans", params={"archived": "false"})).json()["data"]
        bad = await client.get("/v1/plans", params={"archived": "yes"})

    assert [p["id"] for p in archived] == [old["id"]]
    assert [p["id"] for p in live] == [new["id"]]
    assert_error(bad, 422, "validation_error")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"amount": -1}, "amount"),
        ({"amount": True}, "amount"),
        ({"amount": 12.5}, "amount"),
        ({"amount": None}, "amount"),
        ({"currency": "eu"}, "currency"),
        ({"currency": "e\nr"}, "currency"),
        ({"interval": "fortnight"}, "interval"),
        ({"interval_count": 0}, "interval_count"),
        ({"trial_days": 731}, "trial_days"),
        ({"trial_days": -1}, "trial_days"),
        ({"name": "Pro\r\nBcc: x@example.com"}, "name"),
        ({"provider_price_ids": {"paypal": "p_1"}}, "provider_price_ids.paypal"),
        ({"provider_price_ids": {"stripe": "price\n1"}}, "provider_price_ids.stripe"),
        ({"provider_price_ids": ["price_1"]}, "provider_price_ids"),
    ],
)
async def test_a_bad_plan_is_422_naming_the_field(
    gateway: Gateway, change: dict[str, Any], field: str
) -> None:
    async with gateway.client(api_key=await key_of(gateway)) as client:
        answer = await client.post("/v1/plans", json={**PLAN, **change})
        listed = (await client.get("/v1/plans")).json()

    assert_error(answer, 422, "validation_error")
    assert answer.json()["error"]["message"].startswith(f"{field}:")
    assert listed["data"] == []


@pytest.mark.parametrize("field", ["amount", "currency", "interval", "provider_price_ids"])
async def test_what_a_plan_charges_cannot_be_patched(gateway: Gateway, field: str) -> None:
    async with gateway.client(api_key=await key_of(gateway)) as client:
        plan = await create(client, "/v1/plans", PLAN)
        answer = await client.patch(f"/v1/plans/{plan['id']}", json={field: PLAN[field]})

    assert_error(answer, 422, "validation_error")
    assert "create a new plan" in answer.json()["error"]["message"]


async def test_a_price_id_belongs_to_one_plan(gateway: Gateway) -> None:
    async with gateway.client(api_key=await key_of(gateway)) as client:
        plan = await create(client, "/v1/plans", PLAN)
        second = await client.post("/v1/plans", json=PLAN)

    assert_error(second, 409, "conflict")
    assert plan["id"] in second.json()["error"]["message"]


# --------------------------------------------------------------------------- customers


async def test_a_customer_is_created_read_listed_and_changed(gateway: Gateway) -> None:
    async with gateway.client(api_key=await key_of(gateway)) as client:
        customer = await create(client, "/v1/customers", {"email": "ada@example.com", "name": "Ada"})
        got = (await client.get(f"/v1/customers/{customer['id']}")).json()
        listed = (await client.get("/v1/customers")).json()
        changed = await client.patch(
            f"/v1/customers/{customer['id']}",
            json={"email": "ada@example.org", "name": None, "provider_customer_ids": {"stripe": "cus_ada"}},
        )
        renamed = await client.patch(f"/v1/customers/{customer['id']}", json={"name": "Ada L."})

    assert customer == {
        "id": customer["id"],
        "email": "ada@example.com",
        "name": "Ada",
        "provider_customer_ids": {},
        "created_at": "2025-01-15T12:00:00.000000Z",
        "erased_at": None,
    }
    assert got == customer
    assert listed == {"data": [customer], "has_more": False}
    assert changed.status_code == 200, changed.text
    assert changed.json() == {
        **customer,
        "email": "ada@example.org",
        "name": None,
        "provider_customer_ids": {"stripe": "cus_ada"},
    }
    assert renamed.json() == {**changed.json(), "name": "Ada L."}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Ada"}, "email"),
        ({"email": "not-an-address"}, "email"),
        ({"email": "ada@example.com\r\nBcc: everyone@example.com"}, "email"),
        ({"email": "ada@example.com\n"}, "email"),
        ({"email": 42}, "email"),
        ({"email": "ada@example.com", "name": "Ada\rLovelace"}, "name"),
        ({"email": "ada@example.com", "name": "Ada\nBcc: x@example.com"}, "name"),
        (
            {"email": "ada@example.com", "provider_customer_ids": {"stripe": "cus\r\n1"}},
            "provider_customer_ids.stripe",
        ),
        (
            {"email": "ada@example.com", "provider_customer_ids": {"stripe\n": "cus_1"}},
            "provider_customer_ids.stripe\n",
        ),
    ],
)
async def test_a_bad_customer_is_422_and_no_line_break_gets_in(
    gateway: Gateway, body: dict[str, Any], field: str
) -> None:
    async with gateway.client(api_key=await key_of(gateway)) as client:
        created = await client.post("/v1/customers", json=body)
        valid = await create(client, "/v1/customers", {"email": "bob@example.com"})
        name = field.split(".", maxsplit=1)[0]
        patched = (
            await client.patch(f"/v1/customers/{valid['id']}", json={name: body[name]})
            if name in body
            else None
        )
        after = (await client.get(f"/v1/customers/{valid['id']}")).json()

    assert_error(created, 422, "validation_error")
    assert created.json()["error"]["message"].startswith(f"{field}:")
    if patched is not None:
        assert_error(patched, 422, "validation_error")
        assert patched.json()["error"]["message"].startswith(f"{field}:")
    assert after == valid


async def test_a_customers_provider_link_is_never_changed_or_shared(gateway: Gateway) -> None:
    async with gateway.client(api_key=await key_of(gateway)) as client:
        ada = await create(client, "/v1/customers", CUSTOMER)
        bob = await create(client, "/v1/customers", {"email": "bob@example.com"})
        relink = await client.patch(
            f"/v1/customers/{ada['id']}", json={"provider_customer_ids": {"stripe": "cus_x"}}
        )
        steal = await client.patch(
            f"/v1/customers/{bob['id']}", json={"provider_customer_ids": {"stripe": "cus_ada"}}
        )
        twin = await client.post("/v1/customers", json={**CUSTOMER, "email": "twin@example.com"})
        same = await client.patch(
            f"/v1/customers/{ada['id']}", json={"provider_customer_ids": {"stripe": "cus_ada"}}
        )

    assert_error(relink, 409, "conflict")
    assert_error(steal, 409, "conflict")
    assert_error(twin, 409, "conflict")
    assert ada["id"] in steal.json()["error"]["message"]
    assert same.json() == ada


async def test_provider_events_find_the_customer_and_plan_made_over_rest(gateway: Gateway) -> None:
    merchant, key = await gateway.merchant()
    async with gateway.client(api_key=key) as client:
        plan = await create(client, "/v1/plans", PLAN)
        customer = await create(client, "/v1/customers", CUSTOMER)
    internal = SubscriptionsInternal(gateway.txn, gateway.clock, dict)

    await internal.apply(
        SyncSubscription(
            source_key="evt_1",
            merchant_id=merchant.id,
            provider="stripe",
            provider_subscription_id="sub_stripe_1",
            provider_customer_id="cus_ada",
            price=ProviderPrice(price_id="price_pro", amount=4900, currency="eur", interval=Interval.MONTH),
            status=SubscriptionStatus.ACTIVE,
            observed_at=START,
        )
    )

    async with gateway.client(api_key=key) as client:
        [sub] = (await client.get("/v1/subscriptions")).json()["data"]
        customers = (await client.get("/v1/customers")).json()["data"]
    assert (sub["customer_id"], sub["plan_id"]) == (customer["id"], plan["id"])
    assert [c["id"] for c in customers] == [customer["id"]]
