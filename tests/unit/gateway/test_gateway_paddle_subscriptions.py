"""Subscriptions carried out at Paddle: the REST API in front, Paddle's API answered by respx.

Paddle cannot run here, so its API is answered by respx; everything else is real: the app,
the services, the Paddle management client over httpx, the store fake. The merchant's Paddle
connection holds an `api_key`; the subscription was first seen in Paddle's events, so Paddle
runs it and every change is asked of Paddle, the stored state following its webhooks.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from domain.shared.clock import public_time
from domain.subscriptions.external.subscriptions import SubscriptionsExternal
from domain.subscriptions.internal import SubscriptionsInternal
from domain.subscriptions.state_machine import SubscriptionStatus
from gateway.app import create_app
from integrations.providers.interface import Ignored
from integrations.providers.paddle.adapter import PaddleAdapter
from integrations.providers.paddle.management import LIVE_API, SANDBOX_API, PaddleManagement
from integrations.providers.paddle.samples import (
    PERIOD_END,
    PRICE_ID,
    SUB_ID,
    iso,
    subscription_event,
    subscription_object,
)
from subgate.bootstrap import ConnectionKeys
from tests.support.signatures import PADDLE_SECRET as SECRET
from tests.unit.gateway.fakes import Gateway, make_gateway
from tests.unit.gateway.seed import assert_error, create

API_KEY = "pdl_live_apikey_01jfq2merchant"
SANDBOX_KEY = "pdl_sdbx_apikey_01jfq2merchant"


@dataclass
class Shop:
    gateway: Gateway
    client: httpx.AsyncClient
    merchant_id: str
    connection_id: str

    def told(self) -> list[str]:
        return [doc["event_type"] for doc in self.gateway.store.inserted("outbox")]


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    built = make_gateway(tmp_path, providers={"paddle": PaddleAdapter()})
    subscriptions = SubscriptionsExternal(
        built.txn,
        built.clock,
        accounts=ConnectionKeys(built.deps.merchants),
        providers={"paddle": PaddleManagement(timeout_seconds=2)},
    )
    deps = replace(built.deps, subscriptions=subscriptions)
    yield replace(built, app=create_app(deps), deps=deps)
    built.deps.telemetry.shutdown()


async def open_shop(gateway: Gateway, api_key: str) -> AsyncIterator[Shop]:
    merchant, key = await gateway.merchant()
    async with gateway.client(api_key=key) as client:
        connection = await create(
            client, "/v1/connections", {"provider": "paddle", "webhook_secrets": [SECRET], "api_key": api_key}
        )
        yield Shop(gateway, client, merchant.id, connection["id"])


@pytest.fixture
async def shop(gateway: Gateway) -> AsyncIterator[Shop]:
    async for opened in open_shop(gateway, API_KEY):
        yield opened


async def paddle_run(shop: Shop) -> dict[str, Any]:
    """A subscription first seen in Paddle's `subscription.created`, as the worker applies it."""
    commands = PaddleAdapter().normalize(
        subscription_event("subscription.created"), shop.merchant_id, "evt_seed"
    )
    assert not isinstance(commands, Ignored)
    internal = SubscriptionsInternal(shop.gateway.txn, shop.gateway.clock, dict)
    for command in commands:
        await internal.apply(command)
    [listed] = (await shop.client.get("/v1/subscriptions")).json()["data"]
    assert listed["provider"] == "paddle"
    return dict(listed)


def answer(**fields: Any) -> dict[str, Any]:
    return {"data": subscription_object(**fields), "meta": {"request_id": "req_1"}}


CHANGES = [
    pytest.param(
        "cancel",
        {"at_period_end": True},
        ("POST", f"/subscriptions/{SUB_ID}/cancel"),
        {"effective_from": "next_billing_period"},
        {"scheduled_change": {"action": "cancel", "effective_at": iso(PERIOD_END), "resume_at": None}},
        {"status": "active", "cancel_at_period_end": True},
        id="cancel-at-period-end",
    ),
    pytest.param(
        "cancel",
        {"at_period_end": False},
        ("POST", f"/subscriptions/{SUB_ID}/cancel"),
        {"effective_from": "immediately"},
        {"status": "canceled", "period_start": None, "period_end": None},
        {"status": "canceled", "current_period_end": None},
        id="cancel-now",
    ),
    pytest.param(
        "pause",
        None,
        ("POST", f"/subscriptions/{SUB_ID}/pause"),
        {"effective_from": "immediately"},
        {"status": "paused"},
        {"status": "paused"},
        id="pause",
    ),
]


@pytest.mark.parametrize(("action", "body", "call", "sent", "answered", "shown"), CHANGES)
async def test_a_change_is_made_at_paddle_and_stored_when_its_webhook_comes(
    shop: Shop,
    action: str,
    body: dict[str, Any] | None,
    call: tuple[str, str],
    sent: dict[str, Any],
    answered: dict[str, Any],
    shown: dict[str, Any],
) -> None:
    created = await paddle_run(shop)
    told = shop.told()
    with respx.mock:
        route = respx.route(method=call[0], url=f"{LIVE_API}{call[1]}").respond(200, json=answer(**answered))
        response = await shop.client.post(f"/v1/subscriptions/{created['id']}/{action}", json=body)

    assert response.status_code == 200, response.text
    request = route.calls.last.request
    assert json.loads(request.content) == sent
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert {key: response.json()[key] for key in shown} == shown
    # The answer shows Paddle's view; what is stored waits for Paddle's webhook.
    assert (await shop.client.get(f"/v1/subscriptions/{created['id']}")).json() == created
    assert shop.told() == told


@respx.mock
async def test_resume_lifts_a_pause_then_a_scheduled_change(shop: Shop) -> None:
    created = await paddle_run(shop)
    change = {"action": "cancel", "effective_at": iso(PERIOD_END), "resume_at": None}
    respx.get(f"{LIVE_API}/subscriptions/{SUB_ID}").respond(
        200, json=answer(status="paused", scheduled_change=change)
    )
    resumed = respx.post(f"{LIVE_API}/subscriptions/{SUB_ID}/resume").respond(
        200, json=answer(scheduled_change=change)
    )
    patched = respx.patch(f"{LIVE_API}/subscriptions/{SUB_ID}").respond(200, json=answer())
    await _store(shop, created["id"], status=SubscriptionStatus.PAUSED, cancel_at_period_end=True)

    response = await shop.client.post(f"/v1/subscriptions/{created['id']}/resume")

    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["cancel_at_period_end"]) == ("active", False)
    assert json.loads(resumed.calls.last.request.content) == {"effective_from": "immediately"}
    assert json.loads(patched.calls.last.request.content) == {"scheduled_change": None}


@respx.mock
async def test_resume_of_a_running_subscription_only_clears_its_scheduled_cancel(shop: Shop) -> None:
    created = await paddle_run(shop)
    change = {"action": "cancel", "effective_at": iso(PERIOD_END), "resume_at": None}
    await _store(shop, created["id"], cancel_at_period_end=True)
    respx.get(f"{LIVE_API}/subscriptions/{SUB_ID}").respond(200, json=answer(scheduled_change=change))
    resumed = respx.post(f"{LIVE_API}/subscriptions/{SUB_ID}/resume")
    patched = respx.patch(f"{LIVE_API}/subscriptions/{SUB_ID}").respond(200, json=answer())

    response = await shop.client.post(f"/v1/subscriptions/{created['id']}/resume")

    assert response.status_code == 200, response.text
    assert (resumed.call_count, patched.call_count) == (0, 1)


async def _store(shop: Shop, subscription_id: str, **fields: Any) -> None:
    async def work(unit: Any) -> None:
        sub = await unit.subscriptions.get(shop.merchant_id, subscription_id)
        await unit.subscriptions.update(replace(sub, **fields))

    await shop.gateway.run(work)


def _error(status: int, code: str, detail: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"type": "request_error", "code": code, "detail": detail}})


REFUSALS = [
    pytest.param(
        _error(400, "subscription_payment_declined", "payment declined"),
        402,
        "payment_declined",
        "payment declined",
        id="declined",
    ),
    pytest.param(
        _error(400, "subscription_locked_pending_changes", "subscription has pending changes"),
        409,
        "provider_rejected",
        "subscription has pending changes",
        id="rejected",
    ),
    pytest.param(
        _error(404, "not_found", "Entity not found"),
        409,
        "provider_rejected",
        "Entity not found",
        id="unknown",
    ),
    pytest.param(
        _error(401, "authentication_malformed", "bad key"),
        502,
        "provider_unavailable",
        "api_key",
        id="bad-key",
    ),
    pytest.param(
        _error(403, "forbidden", "no permission"), 502, "provider_unavailable", "api_key", id="forbidden"
    ),
    pytest.param(
        _error(429, "too_many_requests", "slow down"), 502, "provider_unavailable", "429", id="throttled"
    ),
    pytest.param(
        httpx.Response(503, text="<html>down</html>"), 502, "provider_unavailable", "503", id="down"
    ),
    pytest.param(
        httpx.Response(200, json={"meta": {}}),
        502,
        "provider_unavailable",
        "without a subscription",
        id="empty",
    ),
    pytest.param(
        httpx.ConnectTimeout("timed out"), 502, "provider_unavailable", "did not answer", id="timeout"
    ),
    pytest.param(httpx.ConnectError("refused"), 502, "provider_unavailable", "did not answer", id="refused"),
]


@pytest.mark.parametrize(("paddle", "status", "error_type", "message"), REFUSALS)
@respx.mock
async def test_a_refused_change_changes_nothing_here(
    shop: Shop, paddle: httpx.Response | Exception, status: int, error_type: str, message: str
) -> None:
    created = await paddle_run(shop)
    told = shop.told()
    route = respx.post(f"{LIVE_API}/subscriptions/{SUB_ID}/cancel")
    route.mock(side_effect=paddle) if isinstance(paddle, Exception) else route.mock(return_value=paddle)

    response = await shop.client.post(
        f"/v1/subscriptions/{created['id']}/cancel", json={"at_period_end": True}
    )

    assert_error(response, status, error_type)
    assert message in response.json()["error"]["message"]
    assert (await shop.client.get(f"/v1/subscriptions/{created['id']}")).json() == created
    assert shop.told() == told


@respx.mock
async def test_an_unreadable_answer_is_502_not_a_crash(shop: Shop) -> None:
    created = await paddle_run(shop)
    respx.post(f"{LIVE_API}/subscriptions/{SUB_ID}/pause").respond(200, json=answer(status="frozen"))

    response = await shop.client.post(f"/v1/subscriptions/{created['id']}/pause")

    assert_error(response, 502, "provider_unavailable")


@respx.mock
async def test_a_sandbox_key_talks_to_paddles_sandbox(gateway: Gateway) -> None:
    async for shop in open_shop(gateway, SANDBOX_KEY):
        created = await paddle_run(shop)
        route = respx.post(f"{SANDBOX_API}/subscriptions/{SUB_ID}/pause").respond(
            200, json=answer(status="paused")
        )

        response = await shop.client.post(f"/v1/subscriptions/{created['id']}/pause")

        assert response.status_code == 200, response.text
        assert route.calls.last.request.headers["authorization"] == f"Bearer {SANDBOX_KEY}"


@respx.mock
async def test_a_new_subscription_with_a_paddle_price_is_run_here_until_paddles_checkout_links_it(
    shop: Shop,
) -> None:
    paddle = respx.route(url__startswith=LIVE_API)
    plan = await create(
        shop.client,
        "/v1/plans",
        {
            "name": "Pro",
            "amount": 3000,
            "currency": "usd",
            "interval": "month",
            "provider_price_ids": {"paddle": PRICE_ID},
        },
    )
    customer = await create(shop.client, "/v1/customers", {"email": "ada@example.com"})

    response = await shop.client.post(
        "/v1/subscriptions", json={"customer_id": customer["id"], "plan_id": plan["id"]}
    )

    assert response.status_code == 201, response.text
    assert (response.json()["status"], response.json()["provider"]) == ("pending", None)
    assert paddle.call_count == 0
    # Paddle's checkout names it in custom_data: its first event is this very subscription.
    body = subscription_event(
        "subscription.created", custom_data={"subgate_subscription_id": response.json()["id"]}
    )
    commands = PaddleAdapter().normalize(body, shop.merchant_id, "evt_checkout")
    assert not isinstance(commands, Ignored)
    for command in commands:
        await SubscriptionsInternal(shop.gateway.txn, shop.gateway.clock, dict).apply(command)
    linked = (await shop.client.get(f"/v1/subscriptions/{response.json()['id']}")).json()
    assert (linked["status"], linked["provider"], linked["provider_subscription_id"]) == (
        "active",
        "paddle",
        SUB_ID,
    )
    assert linked["current_period_end"] == public_time(PERIOD_END)
