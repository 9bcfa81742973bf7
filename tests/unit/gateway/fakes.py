"""In-memory stand-ins for the gateway's collaborators.

The store fake implements the low-level `DocumentStore` port, so the real
repositories (`StoreUnit`) and the real External services run on top of it
unchanged: the tests exercise the same code paths as production, minus I/O.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson
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
from subgate.integrations.storage.documents import (
    Condition,
    Document,
    DuplicateDocument,
    Filter,
    Gt,
    In,
    IndexSpec,
    Lte,
    StorageError,
    VersionMismatch,
)
from subgate.integrations.storage.repositories import StoreUnit
from subgate.integrations.storage.schema import COLLECTIONS
from subgate.integrations.storage.txn import StoreTxn
from subgate.integrations.stripe.adapter import StripeAdapter
from subgate.integrations.telemetry import Telemetry

T = TypeVar("T")

START = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
BASE_URL = "https://subgate.test"


def _copy(doc: Document) -> Document:
    # A JSON round trip both isolates callers from stored state and proves the
    # document is JSON-compatible, as both real backends require.
    copied = orjson.loads(orjson.dumps(doc))
    if not isinstance(copied, dict):
        raise TypeError("a document must be a JSON object")
    return copied


def _matches(value: Any, condition: Condition) -> bool:
    if isinstance(condition, In):
        return any(_equal(value, option) for option in condition.values)
    # Range conditions never match a missing value, as in MongoDB and SQL.
    if isinstance(condition, Lte):
        return value is not None and condition.value is not None and value <= condition.value
    if isinstance(condition, Gt):
        return value is not None and condition.value is not None and value > condition.value
    return _equal(value, condition)


def _equal(value: Any, expected: Any) -> bool:
    # JSON keeps booleans and numbers apart; Python's True == 1 must not leak into matching.
    return isinstance(value, bool) == isinstance(expected, bool) and value == expected


def _sort_key(value: Any) -> tuple[bool, Any]:
    return (value is not None, "" if value is None else value)


class MemorySession:
    """One transaction's view: reads see its own writes; the store commits them at the end."""

    def __init__(self, store: MemoryStore, data: dict[str, dict[str, Document]]) -> None:
        self._store = store
        self._data = data

    def _collection(self, name: str) -> dict[str, Document]:
        if name not in self._data:
            raise ValueError(f"unknown collection {name!r}: not declared by migrate()")
        return self._data[name]

    def _check_writable(self) -> None:
        if self._store.failing_writes:
            raise StorageError("memory store: writes are failing")

    def _check_unique(self, collection: str, doc: Document) -> None:
        for spec in self._store.indexes.get(collection, ()):
            if not spec.unique:
                continue
            key = tuple(doc.get(f) for f in spec.fields)
            for other in self._data[collection].values():
                if other["id"] != doc["id"] and tuple(other.get(f) for f in spec.fields) == key:
                    raise DuplicateDocument(f"{collection}: unique index {spec.name} clash on {key}")

    async def insert(self, collection: str, doc: Document) -> None:
        self._check_writable()
        docs = self._collection(collection)
        if not isinstance(doc.get("id"), str) or not isinstance(doc.get("version"), int):
            raise TypeError("a document needs a string id and an integer version")
        if doc["id"] in docs:
            raise DuplicateDocument(f"{collection}: id {doc['id']!r} exists")
        self._check_unique(collection, doc)
        docs[doc["id"]] = _copy(doc)

    async def get(self, collection: str, doc_id: str) -> Document | None:
        found = self._collection(collection).get(doc_id)
        return None if found is None else _copy(found)

    async def find(
        self,
        collection: str,
        where: Filter,
        *,
        limit: int,
        after_id: str | None = None,
        order_by: str = "id",
    ) -> list[Document]:
        rows = [
            doc
            for doc in self._collection(collection).values()
            if all(_matches(doc.get(name), condition) for name, condition in where.items())
            and (after_id is None or doc["id"] > after_id)
        ]
        rows.sort(key=lambda doc: (_sort_key(doc.get(order_by)), doc["id"]))
        return [_copy(doc) for doc in rows[:limit]]

    async def replace(self, collection: str, doc: Document, expected_version: int) -> None:
        self._check_writable()
        docs = self._collection(collection)
        current = docs.get(doc["id"])
        if current is None or current["version"] != expected_version:
            raise VersionMismatch(f"{collection}: {doc['id']!r} is not at version {expected_version}")
        if doc["version"] != expected_version + 1:
            raise ValueError("a replacement must carry expected_version + 1")
        self._check_unique(collection, doc)
        docs[doc["id"]] = _copy(doc)


class MemoryStore:
    """A `DocumentStore` in a dict. Sessions run one at a time, which makes them serializable."""

    def __init__(self, collections: Mapping[str, Sequence[IndexSpec]] = COLLECTIONS) -> None:
        self.indexes: dict[str, tuple[IndexSpec, ...]] = {}
        self._data: dict[str, dict[str, Document]] = {}
        self._lock = asyncio.Lock()
        # Failure switches: `unavailable` refuses every session (the store is unreachable),
        # `failing_writes` lets reads through but fails inserts and replaces.
        self.unavailable = False
        self.failing_writes = False
        self._declare(collections)

    def _declare(self, collections: Mapping[str, Sequence[IndexSpec]]) -> None:
        for name, specs in collections.items():
            self.indexes[name] = tuple(specs)
            self._data.setdefault(name, {})

    @asynccontextmanager
    async def session(self) -> AsyncIterator[MemorySession]:
        if self.unavailable:
            raise StorageError("memory store: unreachable")
        async with self._lock:
            working = {name: dict(docs) for name, docs in self._data.items()}
            yield MemorySession(self, working)
            # Reached only when the block did not raise: that is the commit.
            self._data = working

    async def migrate(self, collections: Mapping[str, Sequence[IndexSpec]]) -> None:
        self._declare(collections)

    async def ping(self) -> None:
        if self.unavailable:
            raise StorageError("memory store: unreachable")

    async def close(self) -> None:
        return None

    def documents(self, collection: str) -> list[Document]:
        """Committed documents, for assertions."""
        return [_copy(doc) for doc in self._data[collection].values()]


class FakeClock:
    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass(frozen=True, slots=True)
class EnqueuedInbound:
    event_id: str
    trace_carrier: Mapping[str, str]


@dataclass
class RecordingQueue:
    """A `TaskQueue` that remembers what was enqueued; `failure` makes enqueues raise it."""

    inbound: list[EnqueuedInbound] = field(default_factory=list)
    dispatches: list[Mapping[str, str]] = field(default_factory=list)
    deliveries: list[tuple[str, int, datetime, Mapping[str, str]]] = field(default_factory=list)
    failure: Exception | None = None

    def _maybe_fail(self) -> None:
        if self.failure is not None:
            raise self.failure

    async def enqueue_inbound(self, event_id: str, trace_carrier: Mapping[str, str]) -> None:
        self._maybe_fail()
        self.inbound.append(EnqueuedInbound(event_id, dict(trace_carrier)))

    async def enqueue_dispatch(self, trace_carrier: Mapping[str, str]) -> None:
        self._maybe_fail()
        self.dispatches.append(dict(trace_carrier))

    async def enqueue_delivery(
        self, delivery_id: str, version: int, at: datetime, trace_carrier: Mapping[str, str]
    ) -> None:
        self._maybe_fail()
        self.deliveries.append((delivery_id, version, at, dict(trace_carrier)))


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
    store: MemoryStore
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
    store = MemoryStore()
    clock = FakeClock()
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
