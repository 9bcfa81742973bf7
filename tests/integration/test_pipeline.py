"""One Stripe event through gateway, store, domain, outbox, arq and a real merchant endpoint."""

from __future__ import annotations

import json
import os
import time

import orjson
import pytest
import structlog
from svix.webhooks import Webhook

from integrations.providers.stripe.signature import sign_stripe_payload
from integrations.telemetry.tracing import configure_logging
from tests.integration.conftest import Service
from tests.support.cli import run_cli
from tests.support.receiver import running_receiver

SECRET = "whsec_test_secret_1234"


def subscription_created(event_id: str = "evt_1", status: str = "active") -> bytes:
    now = int(time.time())
    event = {
        "id": event_id,
        "object": "event",
        "type": "customer.subscription.created",
        "created": now,
        "data": {
            "object": {
                "id": "sub_123",
                "object": "subscription",
                "customer": "cus_9",
                "status": status,
                "cancel_at_period_end": False,
                "canceled_at": None,
                "trial_end": None,
                "metadata": {},
                "items": {
                    "object": "list",
                    "data": [
                        {
                            "id": "si_1",
                            "current_period_start": now,
                            "current_period_end": now + 30 * 86400,
                            "price": {
                                "id": "price_1",
                                "currency": "usd",
                                "unit_amount": 2000,
                                "recurring": {"interval": "month", "interval_count": 1},
                            },
                        }
                    ],
                },
            }
        },
    }
    return orjson.dumps(event)


async def connect(service: Service, receiver_url: str) -> tuple[str, str]:
    conn = await service.client.post(
        "/v1/connections", headers=service.auth, json={"provider": "stripe", "webhook_secrets": [SECRET]}
    )
    assert conn.status_code == 201, conn.text
    endpoint = await service.client.post("/v1/endpoints", headers=service.auth, json={"url": receiver_url})
    assert endpoint.status_code == 201, endpoint.text
    return conn.json()["id"], endpoint.json()["secret"]


async def post_event(
    service: Service, connection_id: str, body: bytes, secret: str = SECRET
) -> tuple[int, str]:
    headers = {
        "content-type": "application/json",
        "stripe-signature": sign_stripe_payload(body, secret, int(time.time())),
    }
    response = await service.client.post(f"/webhooks/stripe/{connection_id}", content=body, headers=headers)
    return response.status_code, response.text


async def test_event_reaches_endpoint_signed_once(service: Service) -> None:
    async with running_receiver() as receiver:
        connection_id, endpoint_secret = await connect(service, receiver.url)
        body = subscription_created()
        assert await post_event(service, connection_id, body) == (200, '{"status":"accepted"}')
        await service.run_worker()
        await receiver.wait_for(1)

        got = receiver.received[0]
        Webhook(endpoint_secret).verify(got.body, got.headers)  # raises when the signature is wrong
        message = json.loads(got.body)
        assert message["type"] == "subscription.created"
        assert message["data"]["subscription"]["status"] == "active"
        assert got.headers["webhook-id"] == message["id"]

        listed = await service.client.get(
            "/v1/subscriptions", params={"provider_subscription_id": "sub_123"}, headers=service.auth
        )
        assert [s["status"] for s in listed.json()["data"]] == ["active"]

        assert await post_event(service, connection_id, body) == (200, '{"status":"duplicate"}')
        await service.run_worker()
        assert len(receiver.received) == 1


async def test_wrong_signature_is_401_and_stores_nothing(service: Service) -> None:
    async with running_receiver() as receiver:
        connection_id, _ = await connect(service, receiver.url)
        status, _ = await post_event(
            service, connection_id, subscription_created(), secret="whsec_other_secret"
        )
        assert status == 401
        events = await service.client.get("/v1/inbound-events", headers=service.auth)
        assert events.json()["data"] == []
        assert await service.run_worker() == 0


async def test_failing_endpoint_ends_in_one_dead_letter(service: Service) -> None:
    schedule_length = len(service.deps.settings.retry_schedule)
    async with running_receiver(status_for=lambda _n: 500) as receiver:
        connection_id, _ = await connect(service, receiver.url)
        await post_event(service, connection_id, subscription_created())
        await service.run_worker()  # the zero retry schedule makes every retry due at once
        assert len(receiver.received) == schedule_length + 1
        assert len({r.headers["webhook-id"] for r in receiver.received}) == 1

    dead = (await service.client.get("/v1/dead-letters", headers=service.auth)).json()["data"]
    assert len(dead) == 1
    deliveries = (await service.client.get("/v1/deliveries", headers=service.auth)).json()["data"]
    assert [d["status"] for d in deliveries] == ["dead"]

    # the admin command reads the same database as the running service
    cli = await run_cli(
        "dlq",
        "list",
        "--json",
        env={
            **os.environ,
            "SUBGATE_DATA_DIR": str(service.data_dir),
            "SUBGATE_DATABASE_URL": service.deps.settings.database_url,
        },
    )
    assert [row["id"] for row in json.loads(cli)] == [dead[0]["id"]]


async def test_one_trace_from_inbound_request_to_outbound_call(service: Service) -> None:
    async with running_receiver() as receiver:
        connection_id, _ = await connect(service, receiver.url)
        service.spans.clear()
        await post_event(service, connection_id, subscription_created(event_id="evt_trace"))
        await service.run_worker()
        await receiver.wait_for(1)

    spans = service.spans.get_finished_spans()
    inbound = [s for s in spans if s.name.startswith("POST /webhooks")]
    assert len(inbound) == 1
    trace_id = inbound[0].context.trace_id
    names = {s.name for s in spans if s.context.trace_id == trace_id}
    assert {"process inbound event", "deliver webhook", "POST webhook"} <= names


async def test_worker_log_lines_carry_the_events_trace_id(
    service: Service, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("json", cache=False)  # renders to the stderr that capsys captures
    try:
        # A failing receiver: failed attempts are logged (successes only at debug level).
        async with running_receiver(status_for=lambda _n: 500) as receiver:
            connection_id, _ = await connect(service, receiver.url)
            service.spans.clear()
            await post_event(service, connection_id, subscription_created(event_id="evt_logs"))
            await service.run_worker()
            await receiver.wait_for(1)
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    finally:
        structlog.reset_defaults()

    inbound = next(s for s in service.spans.get_finished_spans() if s.name.startswith("POST /webhooks"))
    trace_id = format(inbound.context.trace_id, "032x")
    work = [line for line in lines if line["event"] in ("inbound_event_processed", "delivery_attempt")]
    assert {line["event"] for line in work} == {"inbound_event_processed", "delivery_attempt"}
    assert all(line["trace_id"] == trace_id for line in work)


async def test_nothing_is_lost_when_redis_loses_its_data(service: Service) -> None:
    """Redis holds no work: flushing it between acceptance and processing changes nothing."""
    async with running_receiver() as receiver:
        connection_id, _ = await connect(service, receiver.url)
        assert await post_event(service, connection_id, subscription_created(event_id="evt_flush")) == (
            200,
            '{"status":"accepted"}',
        )
        await service.deps.redis.flushall()
        await service.run_worker()
        await receiver.wait_for(1)

    assert await service.run_worker() == 0
    assert len(receiver.received) == 1
