"""The `/v1` API's access rules: bearer keys, tenant isolation, and cursor pagination."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from starlette.routing import Route

from domain.notifications.model import DeadLetterKind
from tests.unit.gateway.fakes import Gateway
from tests.unit.gateway.seed import (
    SECRET,
    assert_error,
    create,
    new_dead_letter,
    new_delivery,
    new_subscription,
)

# --- authentication -------------------------------------------------------------------------


def v1_paths(gateway: Gateway) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for route in gateway.app.routes:
        if isinstance(route, Route) and route.path.startswith("/v1"):
            path = re.sub(r"\{[^}]+\}", "some_id", route.path)
            found.extend((method, path) for method in sorted(route.methods or ()) if method != "HEAD")
    return found


async def test_every_v1_route_requires_a_bearer_key(gateway: Gateway) -> None:
    paths = v1_paths(gateway)
    assert len(paths) >= 12

    async with gateway.client() as client:
        for method, path in paths:
            response = await client.request(method, path, json={})
            assert_error(response, 401, "unauthenticated")
            assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "authorization",
    ["Basic dXNlcjpwYXNz", "Bearer", "Bearer sg_unknown_key", "Bearer not-a-subgate-key", "sg_no_scheme"],
)
async def test_bad_credentials_are_401(gateway: Gateway, authorization: str) -> None:
    await gateway.merchant()
    async with gateway.client() as client:
        response = await client.get("/v1/connections", headers={"Authorization": authorization})

    assert_error(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"] == "Bearer"


async def test_scheme_is_case_insensitive(gateway: Gateway) -> None:
    _, key = await gateway.merchant()
    async with gateway.client() as client:
        response = await client.get("/v1/connections", headers={"Authorization": f"bearer {key}"})

    assert response.status_code == 200


async def test_store_down_during_authentication_is_503(gateway: Gateway) -> None:
    _, key = await gateway.merchant()
    gateway.store.unavailable = True
    async with gateway.client(api_key=key) as client:
        response = await client.get("/v1/connections")

    assert_error(response, 503, "service_unavailable")


# --- tenant isolation -----------------------------------------------------------------------


async def test_another_merchants_ids_are_404(gateway: Gateway) -> None:
    owner, owner_key = await gateway.merchant("Owner")
    _, other_key = await gateway.merchant("Other")
    subscription = await new_subscription(gateway, owner)
    delivery = await new_delivery(gateway, owner, "ep_x")
    await new_dead_letter(gateway, owner, DeadLetterKind.WEBHOOK)
    async with gateway.client(api_key=owner_key) as client:
        connection = await create(
            client, "/v1/connections", {"provider": "stripe", "webhook_secrets": [SECRET]}
        )
        endpoint = await create(client, "/v1/endpoints", {"url": "https://owner.example.com/hook"})

    async with gateway.client(api_key=other_key) as client:
        for path in (
            f"/v1/connections/{connection['id']}",
            f"/v1/endpoints/{endpoint['id']}",
            f"/v1/subscriptions/{subscription.id}",
            f"/v1/deliveries/{delivery.id}",
            "/v1/inbound-events/evt_unknown",
        ):
            assert_error(await client.get(path), 404, "not_found")
        for path in (
            "/v1/connections",
            "/v1/endpoints",
            "/v1/subscriptions",
            "/v1/deliveries",
            "/v1/dead-letters",
        ):
            assert (await client.get(path)).json() == {"data": [], "has_more": False}


# --- pagination -----------------------------------------------------------------------------


@pytest.mark.parametrize("resource", ["endpoints", "connections"])
async def test_pages_follow_the_cursor(gateway: Gateway, resource: str) -> None:
    _, key = await gateway.merchant()
    bodies: dict[str, Callable[[int], dict[str, Any]]] = {
        "endpoints": lambda i: {"url": f"https://hooks.example.com/{i}"},
        "connections": lambda i: {"provider": "stripe", "webhook_secrets": [f"{SECRET}_{i}"]},
    }
    async with gateway.client(api_key=key) as client:
        ids = [(await create(client, f"/v1/{resource}", bodies[resource](i)))["id"] for i in range(5)]
        seen: list[str] = []
        pages: list[bool] = []
        cursor: dict[str, str] = {}
        while True:
            page = (await client.get(f"/v1/{resource}", params={"limit": "2", **cursor})).json()
            seen.extend(item["id"] for item in page["data"])
            pages.append(page["has_more"])
            if not page["has_more"]:
                break
            cursor = {"starting_after": page["data"][-1]["id"]}
        default = (await client.get(f"/v1/{resource}")).json()

    assert seen == sorted(ids)
    assert pages == [True, True, False]
    assert len(default["data"]) == 5


@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "2.5", "1" * 50])
async def test_limit_out_of_range_is_422(gateway: Gateway, limit: str) -> None:
    _, key = await gateway.merchant()
    async with gateway.client(api_key=key) as client:
        for path in ("/v1/endpoints", "/v1/connections", "/v1/subscriptions"):
            assert_error(await client.get(path, params={"limit": limit}), 422, "validation_error")


async def test_limit_bounds_are_accepted(gateway: Gateway) -> None:
    _, key = await gateway.merchant()
    async with gateway.client(api_key=key) as client:
        for limit in ("1", "100"):
            assert (await client.get("/v1/endpoints", params={"limit": limit})).status_code == 200
