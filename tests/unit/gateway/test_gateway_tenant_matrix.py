"""Tenant isolation over the whole `/v1` API and the portal: two merchants, every route, the other's ids.

The owner has one object of every kind. The other merchant calls every route and method
that takes an id with the owner's ids (and a valid body, so that nothing is refused for
another reason first): every answer is 404 and the store is unchanged, document for
document. Every list, with or without filters naming the owner's ids, shows nothing of the
owner's. The routes are read from the app itself, so a route added later is covered too. The
portal is covered the same way, through a portal session of the other merchant (its forms
carrying their token, so that nothing is refused for another reason first).
"""

from __future__ import annotations

import re
from typing import Any

import httpx
from starlette.routing import Mount, Route

from domain.notifications.model import DeadLetterKind
from integrations.providers.stripe.signature import sign_stripe_payload
from integrations.stores.schema import COLLECTIONS
from tests.unit.gateway.fakes import Gateway
from tests.unit.gateway.portal import signed_in
from tests.unit.gateway.seed import SECRET, assert_error, create, new_dead_letter, new_delivery

# A valid body for each route that reads one, so that a 404 cannot hide behind a 422.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PATCH", "/v1/connections/{connection_id}"): {"webhook_secrets": ["whsec_someone_elses"]},
    ("PATCH", "/v1/endpoints/{endpoint_id}"): {"enabled": False},
    ("PATCH", "/v1/plans/{plan_id}"): {"name": "Taken over", "archived": True},
    ("PATCH", "/v1/customers/{customer_id}"): {"name": "Taken over", "email": "thief@example.com"},
    ("POST", "/v1/subscriptions/{subscription_id}/cancel"): {"at_period_end": False},
}
PARAM = re.compile(r"\{([^}]+)\}")


def routes_with_ids(gateway: Gateway) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for route in gateway.app.routes:
        if isinstance(route, Route) and route.path.startswith("/v1") and PARAM.search(route.path):
            found.extend((method, route.path) for method in sorted(route.methods or ()) if method != "HEAD")
    return found


def list_routes(gateway: Gateway) -> list[str]:
    return [
        route.path
        for route in gateway.app.routes
        if isinstance(route, Route)
        and route.path.startswith("/v1")
        and not PARAM.search(route.path)
        and "GET" in (route.methods or ())
    ]


def everything(gateway: Gateway) -> dict[str, list[dict[str, Any]]]:
    return {name: gateway.store.documents(name) for name in COLLECTIONS}


async def owners_world(gateway: Gateway, client: httpx.AsyncClient) -> dict[str, str]:
    """One object of every kind, made the way a merchant makes it where there is a way."""
    owner = await gateway.run(lambda unit: unit.merchants.by_key_hash(_hash(client)))
    assert owner is not None
    connection = await create(client, "/v1/connections", {"provider": "stripe", "webhook_secrets": [SECRET]})
    endpoint = await create(client, "/v1/endpoints", {"url": "https://owner.example.com/hook"})
    plan = await create(
        client, "/v1/plans", {"name": "Pro", "amount": 900, "currency": "usd", "interval": "month"}
    )
    customer = await create(client, "/v1/customers", {"email": "ada@example.com"})
    subscription = await create(
        client, "/v1/subscriptions", {"customer_id": customer["id"], "plan_id": plan["id"], "trial_days": 14}
    )
    delivery = await new_delivery(gateway, owner, endpoint["id"])
    dead = await new_dead_letter(gateway, owner, DeadLetterKind.WEBHOOK)
    body = b'{"id": "evt_owner", "type": "customer.created", "created": 1736942400}'
    signature = sign_stripe_payload(body, SECRET, int(gateway.clock().timestamp()))
    accepted = await client.post(
        f"/webhooks/stripe/{connection['id']}",
        content=body,
        headers={"Content-Type": "application/json", "Stripe-Signature": signature},
    )
    assert accepted.status_code == 200, accepted.text
    [event] = (await client.get("/v1/inbound-events")).json()["data"]
    return {
        "connection_id": connection["id"],
        "endpoint_id": endpoint["id"],
        "plan_id": plan["id"],
        "customer_id": customer["id"],
        "subscription_id": subscription["id"],
        "delivery_id": delivery.id,
        "dead_letter_id": dead.id,
        "event_id": event["id"],
    }


def _hash(client: httpx.AsyncClient) -> str:
    from domain.merchants.model import hash_api_key  # noqa: PLC0415 - only this helper needs it

    return hash_api_key(client.headers["authorization"].removeprefix("Bearer "))


async def test_every_route_with_another_merchants_id_is_404_and_changes_nothing(gateway: Gateway) -> None:
    _, owner_key = await gateway.merchant("Owner")
    _, other_key = await gateway.merchant("Other")
    async with gateway.client(api_key=owner_key) as owner:
        ids = await owners_world(gateway, owner)
    before = everything(gateway)
    matrix = routes_with_ids(gateway)
    params = {name for _, path in matrix for name in PARAM.findall(path)}
    assert params <= set(ids), f"the matrix has no owner's id for {params - set(ids)}"
    assert len(matrix) >= 20

    async with gateway.client(api_key=other_key) as other:
        for method, template in matrix:
            path = template.format(**ids)
            answer = await other.request(method, path, json=BODIES.get((method, template), {}))
            assert answer.status_code == 404, f"{method} {path}: {answer.status_code} {answer.text}"
            assert_error(answer, 404, "not_found")
        taken = await other.post(
            "/v1/subscriptions", json={"customer_id": ids["customer_id"], "plan_id": ids["plan_id"]}
        )
        assert_error(taken, 404, "not_found")

    assert everything(gateway) == before


async def test_lists_never_show_another_merchants_objects(gateway: Gateway) -> None:
    _, owner_key = await gateway.merchant("Owner")
    _, other_key = await gateway.merchant("Other")
    async with gateway.client(api_key=owner_key) as owner:
        ids = await owners_world(gateway, owner)
        owners_view = {path: (await owner.get(path)).json() for path in list_routes(gateway)}
    filtered = [
        ("/v1/subscriptions", {"customer_id": ids["customer_id"]}),
        ("/v1/subscriptions", {"status": "trialing"}),
        ("/v1/deliveries", {"endpoint_id": ids["endpoint_id"]}),
        ("/v1/inbound-events", {"connection_id": ids["connection_id"]}),
        ("/v1/dead-letters", {"kind": "webhook"}),
        ("/v1/plans", {"archived": "false"}),
    ]

    async with gateway.client(api_key=other_key) as other:
        for path in list_routes(gateway):
            assert (await other.get(path)).json() == {"data": [], "has_more": False}, path
        for path, query in filtered:
            assert (await other.get(path, params=query)).json() == {"data": [], "has_more": False}, path

    # The owner does see one of each: the lists above were empty for the other merchant only.
    assert all(len(view["data"]) == 1 for view in owners_view.values()), owners_view


# A valid form for each portal action that reads more than its token.
PORTAL_FORMS: dict[str, dict[str, Any]] = {
    "/portal/endpoints/{endpoint_id}": {"url": "https://thief.example.com/hook", "description": "mine"},
}
# Portal paths name objects by these ids; a route added later with another name fails below.
PORTAL_IDS = {"endpoint_id", "delivery_id", "dead_letter_id", "subscription_id", "customer_id", "event_id"}


def portal_routes(gateway: Gateway) -> list[tuple[str, str]]:
    """Every portal route with an id in its path, read from the app."""
    [mount] = [r for r in gateway.app.routes if isinstance(r, Mount) and r.path == "/portal"]
    router = mount.app.app  # type: ignore[attr-defined]  # PortalHeaders around the Router
    found: list[tuple[str, str]] = []
    for route in router.routes:
        # Static files are no merchant's (`{name}` is a file's hashed name).
        if isinstance(route, Route) and PARAM.search(route.path) and not route.path.startswith("/static/"):
            found.extend(
                ("/portal" + route.path, method) for method in sorted(route.methods or ()) if method != "HEAD"
            )
    return found


async def test_every_portal_route_with_another_merchants_id_is_404_and_changes_nothing(
    gateway: Gateway,
) -> None:
    _, owner_key = await gateway.merchant("Owner")
    async with gateway.client(api_key=owner_key) as owner:
        ids = await owners_world(gateway, owner)
    async with signed_in(gateway, "Other") as (other, _, _):
        page = (await other.get("/portal/endpoints")).text
        before = everything(gateway)
        matrix = portal_routes(gateway)
        params = {name for path, _ in matrix for name in PARAM.findall(path)}
        assert params <= PORTAL_IDS <= set(ids), params
        assert len(matrix) >= 15
        for template, method in matrix:
            path = template.format(**ids)
            if method == "GET":
                answer = await other.get(path)
            else:
                answer = await other.submit(page, path, **PORTAL_FORMS.get(template, {}))
            assert answer.status_code == 404, f"{method} {path}: {answer.status_code}"
            assert "text/html" in answer.headers["content-type"]
        recover = await other.submit(page, "/portal/dead-letters/recover", endpoint_id=ids["endpoint_id"])
        assert recover.status_code == 404

    assert everything(gateway) == before


async def test_portal_lists_never_show_another_merchants_objects(gateway: Gateway) -> None:
    _, owner_key = await gateway.merchant("Owner")
    async with gateway.client(api_key=owner_key) as owner:
        ids = await owners_world(gateway, owner)
    lists = [
        ("/portal/", {}),
        ("/portal/endpoints", {}),
        ("/portal/deliveries", {}),
        ("/portal/deliveries", {"endpoint_id": ids["endpoint_id"]}),
        ("/portal/deliveries", {"subscription_id": ids["subscription_id"]}),
        ("/portal/dead-letters", {}),
        ("/portal/subscriptions", {}),
        ("/portal/customers", {}),
        ("/portal/inbound-events", {}),
        ("/portal/inbound-events", {"connection_id": ids["connection_id"]}),
    ]
    async with signed_in(gateway, "Owner's neighbour") as (other, _, _):
        for path, query in lists:
            page = await other.get(path, **query)
            assert page.status_code == 200, path
            for value in ids.values():
                if value not in query.values():
                    assert value not in page.text, (path, value)
