"""Black box: `subgate dev` runs the scheduler on its own (arq cron in its worker).

A plan with a one-day trial makes a subscription whose trial reminder (three days before
the trial ends) is due at once: without any request or event after its creation, the
endpoint is told `subscription.trial_will_end`.
"""

from __future__ import annotations

import json

import httpx

from tests.e2e.conftest import DevService
from tests.support.receiver import running_receiver


async def test_the_trial_reminder_arrives_by_itself(
    dev_service: DevService, client: httpx.AsyncClient
) -> None:
    async with running_receiver() as receiver:
        endpoint = await client.post("/v1/endpoints", json={"url": receiver.url})
        assert endpoint.status_code == 201, endpoint.text
        plan = await client.post(
            "/v1/plans",
            json={"name": "Try", "amount": 500, "currency": "usd", "interval": "month", "trial_days": 1},
        )
        customer = await client.post("/v1/customers", json={"email": "ada@example.com"})
        sub = await client.post(
            "/v1/subscriptions", json={"customer_id": customer.json()["id"], "plan_id": plan.json()["id"]}
        )
        assert sub.status_code == 201, sub.text

        await receiver.wait_for(2, deadline_seconds=30)

        messages = [json.loads(r.body) for r in receiver.received]
    assert [m["type"] for m in messages] == ["subscription.created", "subscription.trial_will_end"]
    assert messages[1]["data"]["subscription"]["trial_end"] == sub.json()["trial_end"]
