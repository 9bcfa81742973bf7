"""The gateway app wired over the shared in-process fakes of `tests.support.fakes`.

The store fake implements the low-level `DocumentStore` port, so the real
repositories (`StoreUnit`) and the real External services run on top of it
unchanged: the tests exercise the same code paths as production, minus I/O.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette

from domain.inbound.external import InboundExternal
from domain.merchants.external import MerchantsExternal
from domain.merchants.internal import MerchantsInternal
from domain.merchants.model import Merchant
from domain.merchants.portal import PortalSessions
from domain.notifications.external import NotificationsExternal
from domain.notifications.history import NotificationHistory
from domain.subscriptions.external.subscriptions import SubscriptionsExternal
from gateway.app import create_app
from gateway.deps import FailureCounter, GatewayConfig, GatewayDeps, PortalDeps, RateLimiter
from integrations.providers.interface import ProviderAdapter
from integrations.providers.stripe.adapter import StripeAdapter
from integrations.stores.idempotency import StoredIdempotencyKeys
from integrations.stores.repositories import StoreUnit
from integrations.stores.txn import StoreTxn
from integrations.telemetry.tracing import Telemetry
from tests.support.fakes import PERSONAL_DATA, FakeClock, InMemoryStore, RecordingSignal

T = TypeVar("T")

# The gateway tests' fixed "now"; some expected JSON spells it out.
START = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
BASE_URL = "https://subgate.test"


def config_for_tests(**overrides: Any) -> GatewayConfig:
    return replace(GatewayConfig(base_url=BASE_URL), **overrides)


@dataclass
class Gateway:
    """Everything a test needs: the app, its dependencies and the fakes behind them."""

    app: Starlette
    deps: GatewayDeps
    store: InMemoryStore
    clock: FakeClock
    signal: RecordingSignal
    spans: InMemorySpanExporter
    readiness: dict[str, bool]
    txn: StoreTxn

    def client(self, peer: str = "203.0.113.10", api_key: str | None = None) -> httpx.AsyncClient:
        headers = {} if api_key is None else {"Authorization": f"Bearer {api_key}"}
        transport = httpx.ASGITransport(app=self.app, client=(peer, 40000))
        return httpx.AsyncClient(transport=transport, base_url="http://gateway.test", headers=headers)

    async def merchant(self, name: str = "Acme") -> tuple[Merchant, str]:
        return await MerchantsInternal(self.txn, self.clock).create_merchant(name)

    async def run(self, work: Callable[[StoreUnit], Awaitable[T]]) -> T:
        """Run repository code directly against the store (seeding and inspecting data)."""
        return await self.txn(work)


def make_gateway(
    data_dir: Path,
    providers: Mapping[str, ProviderAdapter] | None = None,
    rate_limiter: RateLimiter | None = None,
    auth_failures: FailureCounter | None = None,
    **config_overrides: Any,
) -> Gateway:
    store = InMemoryStore()
    clock = FakeClock(START)
    signal = RecordingSignal()
    spans = InMemorySpanExporter()
    telemetry = Telemetry("subgate-test", extra_processors=(SimpleSpanProcessor(spans),))
    txn = StoreTxn(store, clock=clock)
    readiness = {"store": True, "redis": True}

    async def check_readiness() -> Mapping[str, bool]:
        return dict(readiness)

    deps = GatewayDeps(
        config=config_for_tests(**config_overrides),
        clock=clock,
        telemetry=telemetry,
        providers={"stripe": StripeAdapter()} if providers is None else providers,
        merchants=MerchantsExternal(txn, clock),
        subscriptions=SubscriptionsExternal(txn, clock),
        inbound=InboundExternal(txn, clock, signal, personal_data=PERSONAL_DATA),
        notifications=NotificationsExternal(txn, clock),
        readiness=check_readiness,
        idempotency=StoredIdempotencyKeys(store, clock),
        rate_limiter=rate_limiter,
        auth_failures=auth_failures,
        portal=PortalDeps(sessions=PortalSessions(txn, clock), history=NotificationHistory(txn, clock)),
    )
    return Gateway(
        app=create_app(deps),
        deps=deps,
        store=store,
        clock=clock,
        signal=signal,
        spans=spans,
        readiness=readiness,
        txn=txn,
    )
