"""Property: any provider event, with times from anywhere in the calendar, goes door -> store ->
worker -> REST without an exception escaping, on the real SQLite store, in process.

Each example posts a few signed Stripe, Polar and Paddle events about a handful of subscriptions (so
they meet each other's state), whose every time is drawn from the whole range a datetime can
hold, with any offset, plus the edges of the accepted range and the numbers just past them.
The door answers 200 or 400, never more; the worker runs until nothing is due without raising,
and so does the scheduler; every REST read answers 200. State is kept from one example to the
next: later events meet what earlier ones stored.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import orjson
from hypothesis import HealthCheck, given, settings, strategies as st

from domain.inbound.external import InboundExternal
from domain.inbound.internal import InboundInternal
from domain.merchants.external import MerchantsExternal, NewConnection
from domain.merchants.internal import MerchantsInternal
from domain.notifications.external import NotificationsExternal
from domain.notifications.internal import NotificationsInternal
from domain.notifications.retry import RetryPolicy
from domain.subscriptions.external.subscriptions import SubscriptionsExternal
from domain.subscriptions.internal import SubscriptionsInternal
from domain.subscriptions.timed_moves import Timing
from gateway.app import create_app
from gateway.deps import GatewayConfig, GatewayDeps
from integrations.providers.interface import ProviderAdapter
from integrations.providers.paddle import samples as paddle
from integrations.providers.paddle.adapter import PaddleAdapter
from integrations.providers.polar import samples as polar
from integrations.providers.polar.adapter import PolarAdapter
from integrations.providers.stripe.adapter import StripeAdapter
from integrations.providers.stripe.samples import (
    invoice_paid_event,
    signed_headers,
    subscription_event,
    thin_event_body,
)
from integrations.redis.signals import LocalSignal
from integrations.stores.leases import WorkerRegistry
from integrations.stores.schema import COLLECTIONS
from integrations.stores.sqlite import SqliteStore
from integrations.stores.txn import StoreTxn
from integrations.telemetry.tracing import Telemetry
from tests.support.fakes import FakeClock, RecordingSender
from tests.support.signatures import PADDLE_SECRET, POLAR_SECRET
from tests.support.work import run_until_idle
from workers.deps import InboundBatches, WorkerConfig, WorkerDeps
from workers.pipeline import Pipeline

STRIPE_SECRET = "whsec_any_event"
NOW = datetime(2025, 6, 1, tzinfo=UTC)
SUBSCRIPTIONS = ("sub_a", "sub_b", "sub_c")
_ids = itertools.count(1)

# Times: anywhere a datetime can be, at any offset, and the edges of the accepted range.
offsets = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
# Naive bounds, as hypothesis wants them; every value drawn carries one of the offsets.
anywhere = st.datetimes(min_value=datetime.min, max_value=datetime.max, timezones=offsets)  # noqa: DTZ901
EDGE_TEXTS = (
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "0999-12-31T00:00:00Z",
    "1970-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "9999-12-31T23:59:59.999999Z",
    "1969-12-31T23:59:59Z",
)
iso_times = st.one_of(anywhere.map(datetime.isoformat), st.sampled_from(EDGE_TEXTS))
unix_times = st.one_of(
    st.integers(min_value=-(2**40), max_value=2**40),
    st.sampled_from((0, -1, 253_402_300_799, 253_402_300_800)),
)


def maybe(times: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), times)


@st.composite
def stripe_events(draw: st.DrawFn) -> tuple[str, bytes]:
    sub_id = draw(st.sampled_from(SUBSCRIPTIONS))
    kind = draw(st.sampled_from(("snapshot", "thin", "invoice")))
    if kind == "thin":
        created = draw(iso_times)
        return "stripe", thin_event_body(
            "customer.subscription.updated", "subscription", sub_id, created=created
        )
    if kind == "invoice":
        return "stripe", invoice_paid_event(
            created=draw(unix_times),
            subscription=sub_id,
            invoice_id=f"in_{next(_ids)}",
            period_start=draw(unix_times),
            period_end=draw(unix_times),
        )
    event_type = draw(st.sampled_from(("customer.subscription.created", "customer.subscription.updated")))
    return "stripe", subscription_event(
        event_type,
        created=draw(unix_times),
        sub_id=sub_id,
        status=draw(st.sampled_from(("trialing", "active", "past_due", "canceled", "incomplete"))),
        period_start=draw(maybe(unix_times)),
        period_end=draw(maybe(unix_times)),
        trial_end=draw(maybe(unix_times)),
        canceled_at=draw(maybe(unix_times)),
        cancel_at_period_end=draw(st.booleans()),
    )


@st.composite
def polar_events(draw: st.DrawFn) -> tuple[str, bytes]:
    sub_id = draw(st.sampled_from(SUBSCRIPTIONS))
    times = {
        name: draw(maybe(iso_times))
        for name in (
            "created_at",
            "modified_at",
            "current_period_start",
            "current_period_end",
            "trial_end",
            "canceled_at",
        )
    }
    subscription = polar.subscription_object(sub_id=sub_id) | times
    subscription["status"] = draw(st.sampled_from(("trialing", "active", "past_due", "canceled")))
    if draw(st.booleans()):
        event_type = draw(
            st.sampled_from(("subscription.created", "subscription.updated", "subscription.revoked"))
        )
        data = subscription
    else:
        event_type = "order.paid"
        data = polar.order_object(subscription_id=sub_id, order_id=f"order_{next(_ids)}") | {
            "subscription": subscription,
            "created_at": draw(maybe(iso_times)),
            "modified_at": draw(maybe(iso_times)),
        }
    document = {"type": event_type, "timestamp": draw(maybe(iso_times)), "data": data}
    return "polar", orjson.dumps(document)


def _period(draw: st.DrawFn) -> dict[str, Any] | None:
    return draw(st.none() | st.fixed_dictionaries({"starts_at": iso_times, "ends_at": iso_times}))


@st.composite
def paddle_events(draw: st.DrawFn) -> tuple[str, bytes]:
    sub_id = draw(st.sampled_from(SUBSCRIPTIONS))
    if draw(st.booleans()):
        event_type = draw(
            st.sampled_from(("subscription.created", "subscription.updated", "subscription.canceled"))
        )
        data = paddle.subscription_object(sub_id=sub_id) | {
            name: draw(maybe(iso_times))
            for name in ("created_at", "updated_at", "started_at", "next_billed_at", "canceled_at")
        }
        data["status"] = draw(st.sampled_from(("trialing", "active", "past_due", "paused", "canceled")))
        data["current_billing_period"] = _period(draw)
        if draw(st.booleans()):
            data["scheduled_change"] = {
                "action": "cancel",
                "effective_at": draw(iso_times),
                "resume_at": None,
            }
    else:
        event_type = draw(st.sampled_from(("transaction.completed", "transaction.payment_failed")))
        data = paddle.transaction_object(subscription_id=sub_id, txn_id=f"txn_{next(_ids)}") | {
            name: draw(maybe(iso_times)) for name in ("billed_at", "created_at", "updated_at")
        }
        data["billing_period"] = _period(draw)
    document = paddle.paddle_document(event_type, data, occurred_at=None)
    document["occurred_at"] = draw(maybe(iso_times))
    return "paddle", orjson.dumps(document)


@dataclass
class Service:
    client: httpx.AsyncClient
    pipeline: Pipeline
    stripe_url: str
    polar_url: str
    paddle_url: str
    api_key: str

    async def post(self, provider: str, body: bytes) -> int:
        stamp = int(NOW.timestamp())
        if provider == "stripe":
            headers = signed_headers(body, STRIPE_SECRET, stamp)
            url = self.stripe_url
        elif provider == "paddle":
            headers = paddle.paddle_headers(body, [PADDLE_SECRET], stamp)
            url = self.paddle_url
        else:
            headers = polar.polar_headers(body, POLAR_SECRET, stamp, message_id=f"msg_{next(_ids)}")
            url = self.polar_url
        return (await self.client.post(url, content=body, headers=headers)).status_code

    async def read_everything(self) -> None:
        auth = {"authorization": f"Bearer {self.api_key}"}
        for path in (
            "/v1/subscriptions",
            "/v1/inbound-events",
            "/v1/deliveries",
            "/v1/customers",
            "/v1/plans",
        ):
            listed = await self.client.get(path, params={"limit": 100}, headers=auth)
            assert listed.status_code == 200, (path, listed.text)
            for item in listed.json()["data"]:
                one = await self.client.get(f"{path}/{item['id']}", headers=auth)
                assert one.status_code == 200, (path, one.text)


async def run_example(path: Path, telemetry: Telemetry, events: Sequence[tuple[str, bytes]]) -> None:
    store = SqliteStore(path)
    try:
        await store.migrate(COLLECTIONS)
        clock = FakeClock(NOW)
        txn = StoreTxn(store)
        signal = LocalSignal()
        merchants = MerchantsExternal(txn, clock)
        _, api_key = await MerchantsInternal(txn, clock).create_merchant(f"Merchant {next(_ids)}")
        merchant = await merchants.authenticate(api_key)
        stripe = await merchants.create_connection(
            merchant.id, NewConnection(provider="stripe", webhook_secrets=[STRIPE_SECRET])
        )
        polar_connection = await merchants.create_connection(
            merchant.id, NewConnection(provider="polar", webhook_secrets=[POLAR_SECRET])
        )
        paddle_connection = await merchants.create_connection(
            merchant.id, NewConnection(provider="paddle", webhook_secrets=[PADDLE_SECRET])
        )
        adapters: dict[str, ProviderAdapter] = {
            "stripe": StripeAdapter(clock=clock),
            "polar": PolarAdapter(),
            "paddle": PaddleAdapter(),
        }
        gateway = GatewayDeps(
            config=GatewayConfig(),
            clock=clock,
            telemetry=telemetry,
            providers=adapters,
            merchants=merchants,
            subscriptions=SubscriptionsExternal(txn, clock),
            inbound=InboundExternal(txn, clock, signal),
            notifications=NotificationsExternal(txn, clock),
            readiness=_ready,
        )
        worker = WorkerDeps(
            config=WorkerConfig(),
            clock=clock,
            telemetry=telemetry,
            providers=adapters,
            signal=signal,
            registry=WorkerRegistry(store, clock),
            redis=None,
            subscriptions=SubscriptionsInternal(txn, clock, dict),
            inbound=InboundInternal(txn, clock),
            notifications=NotificationsInternal(
                txn, clock, signal, RecordingSender(), RetryPolicy(schedule=(0.0,), jitter=0.0), 5.0
            ),
            # The events of a claim applied together, as the service does.
            batches=InboundBatches(store=store, clock=clock, trace=dict, timing=Timing()),
        )
        transport = httpx.ASGITransport(app=create_app(gateway), client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://subgate.test") as client:
            auth = {"authorization": f"Bearer {api_key}"}
            made = await client.post(
                "/v1/endpoints", json={"url": "https://hooks.example.com/a"}, headers=auth
            )
            assert made.status_code == 201, made.text
            service = Service(
                client=client,
                pipeline=Pipeline(worker, "wrk_any"),
                stripe_url=f"/webhooks/stripe/{stripe.id}",
                polar_url=f"/webhooks/polar/{polar_connection.id}",
                paddle_url=f"/webhooks/paddle/{paddle_connection.id}",
                api_key=api_key,
            )
            for provider, body in events:
                assert await service.post(provider, body) in (200, 400)
                await run_until_idle(service.pipeline)
                # The timed moves (trial reminders, period ends, grace) of whatever was stored.
                assert not (await worker.subscriptions.run_schedule()).failures
                await service.read_everything()
    finally:
        await store.close()


async def _ready() -> dict[str, bool]:
    return {"store": True}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=st.lists(st.one_of(stripe_events(), polar_events(), paddle_events()), min_size=1, max_size=4))
def test_any_event_goes_from_door_to_rest_without_an_error_escaping(
    tmp_path: Path, events: list[tuple[str, bytes]]
) -> None:
    telemetry = Telemetry("subgate-test")
    try:
        asyncio.run(run_example(tmp_path / "subgate.db", telemetry, events))
    finally:
        telemetry.shutdown()
