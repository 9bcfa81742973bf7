"""A subscription's whole life through HTTP only, on a fake clock that the test moves.

The real service (gateway behind uvicorn on a loopback port, worker loops, the scheduler's
arq job, a real store and Redis) with an injected fake clock. The test talks to it only
over HTTP: the REST API, Stripe's webhook (an `invoice.paid` naming the subscription), and
a receiving endpoint. The worker's loops and the scheduler run when the test says so, as
time passes on the fake clock: create plan, customer and a subscription with a trial; the
trial reminder; the trial ends with the provider's paid invoice; cancel at the period end;
the period ends: `canceled`, and the endpoint was told every step, in order, signed.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from svix.webhooks import Webhook

from domain.shared.clock import utc_text
from gateway.app import create_app
from integrations.providers.stripe.samples import invoice_paid_event, signed_headers, unix
from integrations.telemetry.tracing import Telemetry
from subgate.bootstrap import Deps, build, migrate
from subgate.settings import load_settings
from tests.support.fakes import FakeClock
from tests.support.mongo import collect_abandoned_sockets
from tests.support.receiver import Receiver, running_receiver
from tests.support.work import run_until_idle
from workers.pipeline import Pipeline
from workers.runner import build_worker, run_scheduler

STRIPE_SECRET = "whsec_lifecycle_test_secret"
DAY = timedelta(days=1)


@dataclass
class Service:
    deps: Deps
    clock: FakeClock
    http: httpx.AsyncClient

    async def time_passes(self, until: datetime) -> None:
        """The clock moves on; the scheduler and the worker loops do what is due by then."""
        self.clock.set(until)
        ctx = dict(build_worker(self.deps.worker, handle_signals=False).ctx)
        await run_scheduler(ctx)
        await run_until_idle(Pipeline(self.deps.worker, "lifecycle-worker"))

    async def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        answer = await self.http.post(path, json=body)
        assert answer.status_code in (200, 201), answer.text
        result: dict[str, Any] = answer.json()
        return result


@asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        listener.close()


@asynccontextmanager
async def running_service(tmp_path: Path, redis_url: str, database: str) -> AsyncIterator[Service]:
    settings = load_settings(
        {
            "SUBGATE_DATA_DIR": str(tmp_path),
            "SUBGATE_DATABASE_URL": database,
            "SUBGATE_ALLOW_PRIVATE_TARGETS": "true",
            "SUBGATE_RETRY_SCHEDULE": "0,0,0",
            "SUBGATE_RATE_LIMIT": "0",
        },
        dotenv=None,
    )
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    deps = await build(settings, redis_url=redis_url, telemetry=Telemetry("subgate-test"), clock=clock)
    try:
        await deps.redis.flushdb()
        await migrate(deps.store)
        _, api_key = await deps.admin.create_merchant("Lifecycle merchant")
        async with (
            serving(create_app(deps.gateway)) as base_url,
            httpx.AsyncClient(base_url=base_url, headers={"authorization": f"Bearer {api_key}"}) as http,
        ):
            yield Service(deps=deps, clock=clock, http=http)
    finally:
        await deps.close()
        collect_abandoned_sockets()


def told(receiver: Receiver, secret: str) -> list[dict[str, Any]]:
    """The messages received, each checked against the endpoint's secret.

    Signed at the fake clock's time, which svix's `verify` would refuse as being from the
    future; so the signature is recomputed with svix for the timestamp the message carries.
    """
    messages = []
    for got in receiver.received:
        headers = {name.lower(): value for name, value in got.headers.items()}
        sent_at = datetime.fromtimestamp(int(headers["webhook-timestamp"]), UTC)
        expected = Webhook(secret).sign(headers["webhook-id"], sent_at, got.body.decode())
        assert expected in headers["webhook-signature"].split(" ")
        messages.append(json.loads(got.body))
    return messages


async def test_trial_paid_canceled_at_the_period_end(tmp_path: Path, redis_url: str, database: str) -> None:
    async with running_service(tmp_path, redis_url, database) as service, running_receiver() as receiver:
        connection = await service.post(
            "/v1/connections", {"provider": "stripe", "webhook_secrets": [STRIPE_SECRET]}
        )
        endpoint = await service.post("/v1/endpoints", {"url": receiver.url})
        plan = await service.post(
            "/v1/plans",
            {"name": "Pro monthly", "amount": 4900, "currency": "eur", "interval": "month", "trial_days": 14},
        )
        customer = await service.post("/v1/customers", {"email": "ada@example.com", "name": "Ada"})
        sub = await service.post("/v1/subscriptions", {"customer_id": customer["id"], "plan_id": plan["id"]})
        assert sub["status"] == "trialing"
        trial_end = datetime.fromisoformat(sub["trial_end"])
        await service.time_passes(service.clock())

        # Three days before the trial ends: the reminder.
        await service.time_passes(trial_end - 3 * DAY)

        # The trial ends; the provider charges the first period and says so.
        await service.time_passes(trial_end)
        period_end = trial_end + 30 * DAY
        body = invoice_paid_event(
            event_id="evt_first_invoice",
            created=unix(service.clock()),
            subscription="sub_stripe_lifecycle",
            customer="cus_stripe_ada",
            amount_paid=4900,
            currency="eur",
            period_start=unix(trial_end),
            period_end=unix(period_end),
            metadata={"subgate_subscription_id": sub["id"]},
        )
        accepted = await service.http.post(
            f"/webhooks/stripe/{connection['id']}",
            content=body,
            headers=signed_headers(body, STRIPE_SECRET, unix(service.clock())),
        )
        assert accepted.json() == {"status": "accepted"}
        await service.time_passes(service.clock() + timedelta(seconds=1))
        active = (await service.http.get(f"/v1/subscriptions/{sub['id']}")).json()
        assert (active["status"], active["current_period_end"]) == ("active", utc_text(period_end))

        # The merchant cancels at the period end; it runs until then.
        canceling = await service.post(f"/v1/subscriptions/{sub['id']}/cancel", {"at_period_end": True})
        assert (canceling["status"], canceling["cancel_at_period_end"]) == ("active", True)
        await service.time_passes(period_end - timedelta(microseconds=1))
        still = (await service.http.get(f"/v1/subscriptions/{sub['id']}")).json()
        assert still["status"] == "active"

        # The period ends.
        await service.time_passes(period_end)
        ended = (await service.http.get(f"/v1/subscriptions/{sub['id']}")).json()
        await receiver.wait_for(6)

        messages = told(receiver, endpoint["secret"])

    assert (ended["status"], ended["canceled_at"]) == ("canceled", utc_text(period_end))
    assert [m["type"] for m in messages] == [
        "subscription.created",
        "subscription.trial_will_end",
        "subscription.activated",
        "payment.succeeded",
        "subscription.updated",
        "subscription.canceled",
    ]
    assert {m["data"]["subscription"]["id"] for m in messages} == {sub["id"]}
    assert [m["data"]["subscription"]["status"] for m in messages] == [
        "trialing",
        "trialing",
        "active",
        "active",
        "active",
        "canceled",
    ]
    assert messages[3]["data"]["payment"] == {
        "provider_invoice_id": "in_test1",
        "amount": 4900,
        "currency": "eur",
    }
