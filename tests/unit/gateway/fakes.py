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

from subgate.domain.billing.service import InboundExternal
from subgate.domain.merchants.internal import MerchantsInternal
from subgate.domain.merchants.model import Merchant
from subgate.domain.merchants.service import MerchantsExternal
from subgate.domain.notifications.service import NotificationsExternal
from subgate.domain.subscriptions.service import SubscriptionsExternal
from subgate.gateway.app import create_app
from subgate.integrations.deps import GatewayDeps
from subgate.integrations.providers import ProviderAdapter
from subgate.integrations.settings import Settings
from subgate.integrations.storage.repositories import StoreUnit
from subgate.integrations.storage.txn import StoreTxn
from subgate.integrations.stripe.adapter import StripeAdapter
from subgate.integrations.telemetry import Telemetry
from tests.support.fakes import FakeClock, InMemoryStore, RecordingQueue

T = TypeVar("T")

# The gateway tests' fixed "now"; some expected JSON spells it out.
START = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
BASE_URL = "https://subgate.test"


def settings_for_tests(data_dir: Path, **overrides: Any) -> Settings:
    base = Settings(
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir / 'unused.db'}",
        redis_url="redis://unused.invalid:6379/0",
        public_base_url=BASE_URL,
    )
    return replace(base, **overrides)


@dataclass
class Gateway:
    """Everything a test needs: the app, its dependencies and the fakes behind them."""

    app: Starlette
    deps: GatewayDeps
    store: InMemoryStore
    clock: FakeClock
    queue: RecordingQueue
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
    **settings_overrides: Any,
) -> Gateway:
    store = InMemoryStore()
    clock = FakeClock(START)
    queue = RecordingQueue()
    spans = InMemorySpanExporter()
    telemetry = Telemetry("subgate-test", extra_processors=(SimpleSpanProcessor(spans),))
    txn = StoreTxn(store)
    readiness = {"store": True, "redis": True}

    async def check_readiness() -> Mapping[str, bool]:
        return dict(readiness)

    deps = GatewayDeps(
        settings=settings_for_tests(data_dir, **settings_overrides),
        clock=clock,
        telemetry=telemetry,
        providers={"stripe": StripeAdapter()} if providers is None else providers,
        merchants=MerchantsExternal(txn, clock),
        subscriptions=SubscriptionsExternal(txn),
        inbound=InboundExternal(txn, clock, queue),
        notifications=NotificationsExternal(txn, clock),
        readiness=check_readiness,
    )
    return Gateway(
        app=create_app(deps),
        deps=deps,
        store=store,
        clock=clock,
        queue=queue,
        spans=spans,
        readiness=readiness,
        txn=txn,
    )
