"""`POST /v1/subscriptions` and its cancel, pause and resume, for subscriptions subgate runs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from domain.shared.clock import utc_text
from tests.unit.gateway.fakes import START, Gateway
from tests.unit.gateway.seed import assert_error, create


async def catalog(client: httpx.AsyncClient, trial_days: int = 0) -> dict[str, str]:
    plan = await create(
        client,
        "/v1/plans",
        {"name": "Pro", "amount": 900, "currency": "usd", "interval": "month", "trial_days": trial_days},
    )
    customer = await create(client, "/v1/customers", {"email": "ada@example.com"})
    return {"customer_id": customer["id"], "plan_id": plan["id"]}


def told(gateway: Gateway) -> list[str]:
    return [doc["event_type"] for doc in gateway.store.inserted("outbox")]


async def test_a_plan_with_a_trial_starts_trialing(gateway: Gateway) -> None:
    _, key = await gateway.merchant()
    async with gateway.client(api_key=key) as client:
        sub = await create(client, "/v1/subscriptions", await catalog(client, trial_days=14))
        got = (await client.get(f"/v1/subscriptions/{sub['id']}")).json()

    trial_end = utc_text(START + timedelta(days=14))
    assert {
        k: sub[k] for k in ("status", "trial_end", "current_period_end", "provider", "cancel_at_period_end")
    } == {
        "status": "trialing",
        "trial_end": trial_end,
        "current_period_end": trial_end,
        "provider": None,
        "cancel_at_period_end": False,
    }
    assert got == sub
    assert told(gateway) == ["subscription.created"]


@pytest.mark.parametrize(("plan_trial", "asked"), [(0, None), (14, 0)])
async def test_without_a_trial_it_is_pending_until_the_first_payment(
    gateway: Gateway, plan_trial: int, asked: int | None
) -> None:
    _, key = await gateway.merchant()
    async with gateway.client(api_key=key) as client:
        body: dict[str, Any] = {**await catalog(client, plan_trial), "trial_days": asked}
        sub = await create(client, "/v1/subscriptions", body)

    assert (sub["status"], sub["trial_end"], sub["current_period_end"]) == ("pending", None, None)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"customer_id": None}, "customer_id"),
        ({"plan_id": 7}, "plan_id"),
        ({"trial_days": "14"}, "trial_days"),
        ({"trial_days": -1}, "trial_days"),
        ({"trial_days": 731}, "trial_days"),
    ],
)
async def test_a_bad_subscription_request_is_422(
    gateway: Gateway, change: dict[str, Any], field: str
) -> None:
    _, key = await gateway.merchant()
    async with gateway.client(api_key=key) as client:
        answer = await client.post("/v1/subscriptions", json={**await catalog(client), **change})

    assert_error(answer, 422, "validation_error")
    assert answer.json()["error"]["message"].startswith(f"{field}:")
    assert gateway.store.documents("subscriptions") == []


@pytest.mark.parametrize("missing", ["customer_id", "plan_id"])
async def test_an_unknown_customer_or_plan_is_404(gateway: Gateway, missing: str) -> None:
    _, key = await gateway.merchant()
    async with gateway.client(api_key=key) as client:
        answer = await client.post("/v1/subscriptions", json={**await catalog(client), missing: "nope_1"})

    assert_error(answer, 404, "not_found")


async def test_cancel_at_the_period_end_then_resume_then_cancel_now(gateway: Gateway) -> None:
    _, key = await gateway.merchant()
    async with gateway.client(api_key=key) as client:
        sub = await create(client, "/v1/subscriptions", await catalog(client, trial_days=14))
        later = await client.post(f"/v1/subscriptions/{sub['id']}/cancel", json={"at_period_end": True})
        resumed = await client.post(f"/v1/subscriptions/{sub['id']}/resume")
        now = await client.post(f"/v1/subscriptions/{sub['id']}/cancel")

    assert (later.json()["status"], later.json()["cancel_at_period_end"]) == ("trialing", True)
    assert (resumed.json()["status"], resumed.json()["cancel_at_period_end"]) == ("trialing", False)
    assert now.status_code == 200, now.text
    assert (now.json()["status"], now.json()["canceled_at"]) == ("canceled", "2025-01-15T12:00:00.000000Z")
    assert told(gateway) == [
        "subscription.created",
        "subscription.updated",
        "subscription.updated",
        "subscription.canceled",
    ]


async def test_pause_and_resume(gateway: Gateway) -> None:
    _, key = await gateway.merchant()
    async with gateway.client(api_key=key) as client:
        sub = await create(client, "/v1/subscriptions", await catalog(client, trial_days=14))
        paused = await client.post(f"/v1/subscriptions/{sub['id']}/pause")
        resumed = await client.post(f"/v1/subscriptions/{sub['id']}/resume", content=b"")

    assert paused.json()["status"] == "paused"
    assert resumed.json()["status"] == "trialing"
    assert told(gateway)[1:] == ["subscription.paused", "subscription.resumed"]


@pytest.mark.parametrize(
    ("action", "body", "error_type", "current"),
    [
        ("pause", None, "invalid_transition", "'pending'"),
        ("resume", None, "conflict", "pending"),
        ("cancel", {"at_period_end": True}, "conflict", "pending"),
    ],
)
async def test_a_move_the_status_forbids_is_409_naming_the_status(
    gateway: Gateway, action: str, body: dict[str, Any] | None, error_type: str, current: str
) -> None:
    _, key = await gateway.merchant()
    async with gateway.client(api_key=key) as client:
        sub = await create(client, "/v1/subscriptions", await catalog(client))
        answer = await client.post(f"/v1/subscriptions/{sub['id']}/{action}", json=body)
        after = (await client.get(f"/v1/subscriptions/{sub['id']}")).json()

    assert_error(answer, 409, error_type)
    assert current in answer.json()["error"]["message"]
    assert after == sub


@pytest.mark.parametrize("action", ["cancel", "pause", "resume"])
async def test_nothing_moves_a_canceled_subscription(gateway: Gateway, action: str) -> None:
    _, key = await gateway.merchant()
    async with gateway.client(api_key=key) as client:
        sub = await create(client, "/v1/subscriptions", await catalog(client, trial_days=3))
        await client.post(f"/v1/subscriptions/{sub['id']}/cancel", json={"at_period_end": False})
        answer = await client.post(f"/v1/subscriptions/{sub['id']}/{action}")

    assert_error(answer, 409, "invalid_transition")
    assert "'canceled'" in answer.json()["error"]["message"]


@pytest.mark.parametrize("body", [b"[]", b'{"at_period_end": "yes"}'])
async def test_a_bad_cancel_body_is_422(gateway: Gateway, body: bytes) -> None:
    _, key = await gateway.merchant()
    async with gateway.client(api_key=key) as client:
        sub = await create(client, "/v1/subscriptions", await catalog(client, trial_days=3))
        answer = await client.post(
            f"/v1/subscriptions/{sub['id']}/cancel",
            content=body,
            headers={"content-type": "application/json"},
        )

    assert_error(answer, 422, "validation_error")


async def test_lists_filter_by_status_and_customer(gateway: Gateway) -> None:
    _, key = await gateway.merchant()
    async with gateway.client(api_key=key) as client:
        ids = await catalog(client, trial_days=3)
        trialing = await create(client, "/v1/subscriptions", ids)
        pending = await create(client, "/v1/subscriptions", {**ids, "trial_days": 0})
        by_status = (await client.get("/v1/subscriptions", params={"status": "pending"})).json()["data"]
        by_customer = (
            await client.get("/v1/subscriptions", params={"customer_id": ids["customer_id"]})
        ).json()

    assert [s["id"] for s in by_status] == [pending["id"]]
    assert [s["id"] for s in by_customer["data"]] == [trialing["id"], pending["id"]]
