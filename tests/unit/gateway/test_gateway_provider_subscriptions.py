"""Subscriptions carried out at Stripe: the REST API in front, Stripe's API answered by respx.

Stripe cannot run here, so its API is answered by respx; everything else is real: the app,
the services, the Stripe management client and the SDK over HTTPX, the store fake. The
merchant's Stripe connection holds an `api_key`, so requests go to Stripe, with the key,
an idempotency key and our id in the metadata, and the stored state follows the webhooks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import respx

from domain.subscriptions.external.subscriptions import SubscriptionsExternal
from gateway.app import create_app
from integrations.providers.stripe.management import StripeManagement
from integrations.providers.stripe.samples import (
    PERIOD_END,
    PERIOD_START,
    signed_headers,
    subscription_object as stripe_subscription,
)
from subgate.bootstrap import ConnectionKeys
from tests.unit.gateway.fakes import Gateway, make_gateway
from tests.unit.gateway.seed import SECRET, assert_error, create

STRIPE = "https://api.stripe.com/v1"
API_KEY = "sk_test_merchant_key"

# The stripe SDK hands its form body to httpx as `data=` bytes, which httpx deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>' to upload raw bytes:DeprecationWarning")


@dataclass
class Shop:
    gateway: Gateway
    client: httpx.AsyncClient
    connection_id: str
    plan_id: str
    customer_id: str

    def stored(self, collection: str) -> list[dict[str, Any]]:
        return self.gateway.store.documents(collection)

    def told(self) -> list[str]:
        return [doc["event_type"] for doc in self.gateway.store.inserted("outbox")]

    async def webhook(self, body: bytes) -> None:
        headers = signed_headers(body, SECRET, int(self.gateway.clock().timestamp()))
        answer = await self.client.post(
            f"/webhooks/stripe/{self.connection_id}", content=body, headers=headers
        )
        assert answer.status_code == 200, answer.text


def managing(gateway: Gateway) -> Gateway:
    """The app with a subscriptions service that acts at Stripe with the merchants' keys."""
    subscriptions = SubscriptionsExternal(
        gateway.txn,
        gateway.clock,
        accounts=ConnectionKeys(gateway.deps.merchants),
        providers={"stripe": StripeManagement(timeout_seconds=2)},
    )
    deps = replace(gateway.deps, subscriptions=subscriptions)
    return replace(gateway, app=create_app(deps), deps=deps)


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    built = managing(make_gateway(tmp_path))
    yield built
    built.deps.telemetry.shutdown()


@pytest.fixture
async def shop(gateway: Gateway) -> AsyncIterator[Shop]:
    _, key = await gateway.merchant()
    async with gateway.client(api_key=key) as client:
        connection = await create(
            client, "/v1/connections", {"provider": "stripe", "webhook_secrets": [SECRET], "api_key": API_KEY}
        )
        plan = await create(
            client,
            "/v1/plans",
            {
                "name": "Pro",
                "amount": 4900,
                "currency": "eur",
                "interval": "month",
                "provider_price_ids": {"stripe": "price_pro"},
            },
        )
        customer = await create(
            client,
            "/v1/customers",
            {"email": "ada@example.com", "provider_customer_ids": {"stripe": "cus_stripe_ada"}},
        )
        yield Shop(gateway, client, connection["id"], plan["id"], customer["id"])


def stripe_answer(sub_id: str = "sub_stripe_1", **fields: Any) -> dict[str, Any]:
    extra = {key: fields.pop(key) for key in ("pause_collection",) if key in fields}
    answer = stripe_subscription(sub_id=sub_id, customer="cus_stripe_ada", price_id="price_pro", **fields)
    return {**answer, **extra}


def form(request: httpx.Request) -> dict[str, list[str]]:
    return parse_qs(request.content.decode(), keep_blank_values=True)


# --------------------------------------------------------------------------- create


@respx.mock
async def test_a_subscription_is_created_at_stripe_with_metadata_and_keys(shop: Shop) -> None:
    route = respx.post(f"{STRIPE}/subscriptions").respond(
        200, json=stripe_answer(status="trialing", trial_end=PERIOD_END)
    )

    answer = await shop.client.post(
        "/v1/subscriptions",
        json={"customer_id": shop.customer_id, "plan_id": shop.plan_id, "trial_days": 14},
        headers={"Idempotency-Key": "order-42"},
    )

    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert (body["status"], body["provider"], body["provider_subscription_id"]) == (
        "trialing",
        "stripe",
        "sub_stripe_1",
    )
    sent = route.calls.last.request
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    assert sent.headers["idempotency-key"].startswith(f"subgate:{body['id']}:create:")
    assert form(sent) == {
        "customer": ["cus_stripe_ada"],
        "items[0][price]": ["price_pro"],
        "metadata[subgate_subscription_id]": [body["id"]],
        "trial_period_days": ["14"],
    }
    [stored] = shop.stored("subscriptions")
    assert (stored["id"], stored["provider_managed"], stored["status"]) == (body["id"], True, "trialing")
    assert shop.told() == ["subscription.created"]


@respx.mock
async def test_without_a_trial_no_trial_is_asked_for(shop: Shop) -> None:
    route = respx.post(f"{STRIPE}/subscriptions").respond(200, json=stripe_answer(status="incomplete"))

    answer = await shop.client.post(
        "/v1/subscriptions", json={"customer_id": shop.customer_id, "plan_id": shop.plan_id}
    )

    assert answer.json()["status"] == "pending"
    assert "trial_period_days" not in form(route.calls.last.request)


@respx.mock
async def test_a_customer_without_a_stripe_id_is_refused_before_stripe_is_asked(shop: Shop) -> None:
    route = respx.post(f"{STRIPE}/subscriptions")
    plain = await create(shop.client, "/v1/customers", {"email": "bob@example.com"})

    answer = await shop.client.post(
        "/v1/subscriptions", json={"customer_id": plain["id"], "plan_id": shop.plan_id}
    )

    assert_error(answer, 422, "validation_error")
    assert "provider_customer_ids.stripe" in answer.json()["error"]["message"]
    assert route.call_count == 0


@respx.mock
async def test_without_an_api_key_the_subscription_is_run_here(shop: Shop) -> None:
    route = respx.post(url__startswith=STRIPE)
    await shop.client.patch(f"/v1/connections/{shop.connection_id}", json={"api_key": None})

    answer = await shop.client.post(
        "/v1/subscriptions", json={"customer_id": shop.customer_id, "plan_id": shop.plan_id, "trial_days": 7}
    )

    assert answer.status_code == 201
    assert (answer.json()["status"], answer.json()["provider"]) == ("trialing", None)
    assert route.call_count == 0
    [stored] = shop.stored("subscriptions")
    assert stored["provider_managed"] is False


REFUSALS = [
    pytest.param(
        httpx.Response(
            402,
            json={
                "error": {"type": "card_error", "code": "card_declined", "message": "Your card was declined."}
            },
        ),
        402,
        "payment_declined",
        "Your card was declined.",
        id="402-card-declined",
    ),
    pytest.param(
        httpx.Response(
            400, json={"error": {"type": "invalid_request_error", "message": "No such price: 'price_pro'"}}
        ),
        409,
        "provider_rejected",
        "No such price: 'price_pro'",
        id="400-invalid-request",
    ),
    pytest.param(
        httpx.Response(
            404,
            json={
                "error": {"type": "invalid_request_error", "message": "No such customer: 'cus_stripe_ada'"}
            },
        ),
        409,
        "provider_rejected",
        "No such customer",
        id="404-no-such-object",
    ),
    pytest.param(
        httpx.Response(401, json={"error": {"type": "invalid_request_error", "message": "Invalid API Key"}}),
        502,
        "provider_unavailable",
        "Invalid API Key",
        id="401-bad-key",
    ),
    pytest.param(
        httpx.Response(429, json={"error": {"type": "rate_limit_error", "message": "Too many requests"}}),
        502,
        "provider_unavailable",
        "Too many requests",
        id="429",
    ),
    pytest.param(
        httpx.Response(500, json={"error": {"type": "api_error", "message": "Something went wrong"}}),
        502,
        "provider_unavailable",
        "Something went wrong",
        id="500",
    ),
    pytest.param(
        httpx.Response(503, json={"error": {"type": "api_error", "message": "Service unavailable"}}),
        502,
        "provider_unavailable",
        "Service unavailable",
        id="503",
    ),
    pytest.param(httpx.ReadTimeout("timed out"), 502, "provider_unavailable", "did not answer", id="timeout"),
    pytest.param(httpx.ConnectError("refused"), 502, "provider_unavailable", "did not answer", id="refused"),
]


@pytest.mark.parametrize(("stripe", "status", "error_type", "message"), REFUSALS)
@respx.mock
async def test_a_refused_creation_stores_nothing_and_says_why(
    shop: Shop, stripe: httpx.Response | Exception, status: int, error_type: str, message: str
) -> None:
    route = respx.post(f"{STRIPE}/subscriptions")
    route.mock(side_effect=stripe) if isinstance(stripe, Exception) else route.mock(return_value=stripe)

    answer = await shop.client.post(
        "/v1/subscriptions", json={"customer_id": shop.customer_id, "plan_id": shop.plan_id}
    )

    assert_error(answer, status, error_type)
    assert message in answer.json()["error"]["message"]
    assert shop.stored("subscriptions") == []
    assert shop.told() == []


@respx.mock
async def test_a_retry_after_a_timeout_asks_stripe_for_the_very_same_subscription(shop: Shop) -> None:
    route = respx.post(f"{STRIPE}/subscriptions")
    route.mock(side_effect=httpx.ReadTimeout("timed out"))
    body = {"customer_id": shop.customer_id, "plan_id": shop.plan_id}
    key = {"Idempotency-Key": "order-43"}

    first = await shop.client.post("/v1/subscriptions", json=body, headers=key)
    assert_error(first, 502, "provider_unavailable")
    assert shop.stored("subscriptions") == []

    # Stripe did create it before the timeout: the same idempotency key gets its answer back.
    route.mock(side_effect=None, return_value=httpx.Response(200, json=stripe_answer(status="active")))
    second = await shop.client.post("/v1/subscriptions", json=body, headers=key)

    assert second.status_code == 201, second.text
    one, two = (call.request for call in route.calls)
    assert one.headers["idempotency-key"] == two.headers["idempotency-key"]
    assert form(one) == form(two)
    assert form(two)["metadata[subgate_subscription_id]"] == [second.json()["id"]]
    assert len(shop.stored("subscriptions")) == 1


# --------------------------------------------------------------------------- changes


async def stripe_run(shop: Shop) -> dict[str, Any]:
    with respx.mock:
        respx.post(f"{STRIPE}/subscriptions").respond(200, json=stripe_answer(status="active"))
        return await create(
            shop.client, "/v1/subscriptions", {"customer_id": shop.customer_id, "plan_id": shop.plan_id}
        )


CHANGES = [
    pytest.param(
        "cancel",
        {"at_period_end": True},
        ("POST", "/subscriptions/sub_stripe_1"),
        {"cancel_at_period_end": ["true"]},
        {"cancel_at_period_end": True},
        {"status": "active", "cancel_at_period_end": True},
        id="cancel-at-period-end",
    ),
    pytest.param(
        "cancel",
        {"at_period_end": False},
        ("DELETE", "/subscriptions/sub_stripe_1"),
        {},
        {"status": "canceled", "canceled_at": PERIOD_START + 60},
        {"status": "canceled", "canceled_at": "2025-01-01T00:01:00.000000Z"},
        id="cancel-now",
    ),
    pytest.param(
        "pause",
        None,
        ("POST", "/subscriptions/sub_stripe_1"),
        {"pause_collection[behavior]": ["void"]},
        {"pause_collection": {"behavior": "void", "resumes_at": None}},
        {"status": "paused"},
        id="pause",
    ),
]


@pytest.mark.parametrize(("action", "body", "call", "sent", "answered", "shown"), CHANGES)
async def test_a_change_is_made_at_stripe_and_stored_when_its_webhook_comes(
    shop: Shop,
    action: str,
    body: dict[str, Any] | None,
    call: tuple[str, str],
    sent: dict[str, list[str]],
    answered: dict[str, Any],
    shown: dict[str, Any],
) -> None:
    created = await stripe_run(shop)
    told = shop.told()
    with respx.mock:
        route = respx.route(method=call[0], url=f"{STRIPE}{call[1]}").respond(
            200, json=stripe_answer(**({"status": "active"} | answered))
        )
        answer = await shop.client.post(f"/v1/subscriptions/{created['id']}/{action}", json=body)

    assert answer.status_code == 200, answer.text
    request = route.calls.last.request
    assert form(request) == sent
    assert request.headers["idempotency-key"].startswith(f"subgate:{created['id']}:")
    # The answer shows Stripe's view; what is stored waits for Stripe's webhook.
    stored = (await shop.client.get(f"/v1/subscriptions/{created['id']}")).json()
    assert stored == created
    assert shop.told() == told
    assert {key: answer.json()[key] for key in shown} == shown


@respx.mock
async def test_resume_lifts_a_pause_and_a_scheduled_cancel_in_one_call(shop: Shop) -> None:
    created = await stripe_run(shop)
    paused = stripe_answer(status="active", pause_collection={"behavior": "void", "resumes_at": None})
    respx.get(f"{STRIPE}/subscriptions/sub_stripe_1").respond(200, json=paused)
    update = respx.post(f"{STRIPE}/subscriptions/sub_stripe_1").respond(
        200, json=stripe_answer(status="active")
    )
    resume_call = respx.post(f"{STRIPE}/subscriptions/sub_stripe_1/resume")
    await _store_status(shop, created["id"], "paused")

    answer = await shop.client.post(f"/v1/subscriptions/{created['id']}/resume")

    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "active"
    assert form(update.calls.last.request) == {"cancel_at_period_end": ["false"], "pause_collection": [""]}
    assert resume_call.call_count == 0


@respx.mock
async def test_a_subscription_stripe_itself_paused_is_resumed_through_its_resume_call(shop: Shop) -> None:
    created = await stripe_run(shop)
    await _store_status(shop, created["id"], "paused")
    respx.get(f"{STRIPE}/subscriptions/sub_stripe_1").respond(200, json=stripe_answer(status="paused"))
    resume_call = respx.post(f"{STRIPE}/subscriptions/sub_stripe_1/resume").respond(
        200, json=stripe_answer(status="active")
    )
    respx.post(f"{STRIPE}/subscriptions/sub_stripe_1").respond(200, json=stripe_answer(status="active"))

    answer = await shop.client.post(f"/v1/subscriptions/{created['id']}/resume")

    assert answer.status_code == 200, answer.text
    assert resume_call.call_count == 1


@pytest.mark.parametrize(("stripe", "status", "error_type", "message"), REFUSALS)
@respx.mock
async def test_a_refused_change_changes_nothing_here(
    shop: Shop, stripe: httpx.Response | Exception, status: int, error_type: str, message: str
) -> None:
    created = await stripe_run(shop)
    told = shop.told()
    route = respx.post(f"{STRIPE}/subscriptions/sub_stripe_1")
    route.mock(side_effect=stripe) if isinstance(stripe, Exception) else route.mock(return_value=stripe)

    answer = await shop.client.post(f"/v1/subscriptions/{created['id']}/cancel", json={"at_period_end": True})

    assert_error(answer, status, error_type)
    assert message in answer.json()["error"]["message"]
    assert (await shop.client.get(f"/v1/subscriptions/{created['id']}")).json() == created
    assert shop.told() == told


@respx.mock
async def test_an_invalid_change_is_refused_here_before_stripe_is_asked(shop: Shop) -> None:
    created = await stripe_run(shop)
    await _store_status(shop, created["id"], "canceled")
    route = respx.route(url__startswith=STRIPE)

    answer = await shop.client.post(f"/v1/subscriptions/{created['id']}/pause")

    assert_error(answer, 409, "invalid_transition")
    assert "'canceled'" in answer.json()["error"]["message"]
    assert route.call_count == 0


@respx.mock
async def test_a_stripe_subscription_without_a_key_to_change_it_is_409(shop: Shop) -> None:
    created = await stripe_run(shop)
    await shop.client.patch(f"/v1/connections/{shop.connection_id}", json={"api_key": None})
    route = respx.route(url__startswith=STRIPE)

    answer = await shop.client.post(
        f"/v1/subscriptions/{created['id']}/cancel", json={"at_period_end": False}
    )

    assert_error(answer, 409, "managed_at_provider")
    assert "api_key" in answer.json()["error"]["message"]
    assert route.call_count == 0
    assert (await shop.client.get(f"/v1/subscriptions/{created['id']}")).json()["status"] == "active"


async def _store_status(shop: Shop, subscription_id: str, status: str) -> None:
    """As the provider's webhook would leave it (the worker's part is covered elsewhere)."""
    from dataclasses import replace as changed  # noqa: PLC0415 - local to this helper

    from domain.subscriptions.state_machine import SubscriptionStatus  # noqa: PLC0415 - same
    from integrations.stores.repositories import StoreUnit  # noqa: PLC0415 - same

    merchant_id = shop.stored("subscriptions")[0]["merchant_id"]

    async def work(unit: StoreUnit) -> None:
        sub = await unit.subscriptions.get(merchant_id, subscription_id)
        assert sub is not None
        await unit.subscriptions.update(changed(sub, status=SubscriptionStatus(status)))

    await shop.gateway.run(work)
