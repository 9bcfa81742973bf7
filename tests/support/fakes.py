"""In-process stand-ins for the ports, so domain services run with their real repositories.

* `FakeClock` - time that moves only when a test says so.
* `InMemoryStore` - a `DocumentStore` kept in dicts, honouring the same contract as the
  SQLite and MongoDB adapters (copies in and out, unique indexes, compare-and-set,
  rollback when the session block raises), with switches to make it fail like a store
  that is down (`unavailable`) or refuses writes (`failing_writes`).
* `RecordingSignal` / `RecordingSender` - the work signal and the outbound webhook sender,
  remembering what they were asked to do.
* `build_services` - every Internal/External service wired over `StoreTxn(InMemoryStore())`.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import re
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from domain.inbound.external import InboundExternal
from domain.inbound.internal import InboundInternal
from domain.merchants.external import MerchantsExternal
from domain.merchants.internal import MerchantsInternal
from domain.notifications.external import NotificationsExternal
from domain.notifications.internal import DeadLettersInternal, DeliveryOptions, NotificationsInternal
from domain.notifications.ports import OutboundWebhook, SendResult
from domain.notifications.retry import RetryPolicy
from domain.shared.work import WorkKind
from domain.subscriptions.external.subscriptions import SubscriptionsExternal
from domain.subscriptions.internal import SubscriptionsInternal
from integrations.providers.personal import ProviderPayloads
from integrations.stores.documents import (
    Condition,
    Document,
    DocumentSession,
    DuplicateDocument,
    Filter,
    Gt,
    In,
    IndexSpec,
    Lte,
    Scalar,
    StorageError,
    VersionMismatch,
)
from integrations.stores.schema import COLLECTIONS
from integrations.stores.txn import StoreTxn
from subgate.bootstrap import personal_fields

__all__ = [
    "DEFAULT_START",
    "PERSONAL_DATA",
    "FakeClock",
    "InMemoryStore",
    "RecordingSender",
    "RecordingSignal",
    "Services",
    "build_services",
    "respond",
]

DEFAULT_START: Final = datetime(2025, 1, 1, tzinfo=UTC)
# Where the implemented providers carry personal data (as the composition root wires it).
PERSONAL_DATA: Final = ProviderPayloads(personal_fields())


# --------------------------------------------------------------------------- clock


def _utc(value: datetime) -> datetime:
    """Naive datetimes refused: a naive value silently shifts by the host's offset."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: an aware UTC datetime is required")
    return value.astimezone(UTC)


class FakeClock:
    """A `Clock`: returns the same aware UTC instant until moved with `advance` or `set`."""

    def __init__(self, start: datetime = DEFAULT_START) -> None:
        self._now = _utc(start)

    def __call__(self) -> datetime:
        return self._now

    def advance(self, by: float | timedelta) -> datetime:
        """Move forward (a negative amount moves back) and return the new instant."""
        step = by if isinstance(by, timedelta) else timedelta(seconds=by)
        self._now = self._now + step
        return self._now

    def set(self, when: datetime) -> datetime:
        self._now = _utc(when)
        return self._now


# --------------------------------------------------------------------------- document store

# The same alphabet the real adapters accept for collection, field and index names.
_NAME: Final = re.compile(r"[a-z_][a-z0-9_]*")


def _name(value: str, what: str) -> str:
    if not isinstance(value, str) or _NAME.fullmatch(value) is None:
        raise ValueError(f"invalid {what} name {value!r}: must match {_NAME.pattern}")
    return value


def _doc_id(doc: Document) -> str:
    doc_id = doc.get("id")
    if not isinstance(doc_id, str) or not doc_id:
        raise ValueError(f"document needs a non-empty string 'id', got {doc_id!r}")
    return doc_id


def _as_stored(doc: Document) -> Document:
    """A private copy, as the JSON a real backend would keep (tuples become lists).

    Anything JSON cannot hold (datetimes, sets, NaN) fails here as it would in SQLite.
    """
    if not isinstance(doc, dict):
        raise TypeError(f"a document is a dict, got {type(doc).__name__}")
    copied: Document = json.loads(json.dumps(doc, allow_nan=False))
    return copied


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _equal(stored: object, wanted: Scalar) -> bool:
    """Equality without Python's `True == 1`: a boolean only ever equals a boolean."""
    if isinstance(stored, bool) or isinstance(wanted, bool):
        return isinstance(stored, bool) and isinstance(wanted, bool) and stored == wanted
    if _is_number(stored) and _is_number(wanted):
        return stored == wanted
    return type(stored) is type(wanted) and stored == wanted


def _ordered(stored: object, bound: Scalar, accept: Callable[[Any, Any], bool]) -> bool:
    """Range comparison within one type family; null, missing and mixed types never match."""
    if stored is None:
        return False
    if _is_number(stored) and _is_number(bound):
        return accept(stored, bound)
    if isinstance(stored, str) and isinstance(bound, str):
        return accept(stored, bound)
    if isinstance(stored, bool) and isinstance(bound, bool):
        return accept(stored, bound)
    return False


def _matches(doc: Document, field_name: str, condition: Condition) -> bool:
    value = doc.get(field_name)
    if isinstance(condition, In):
        if value is None:
            return None in condition.values
        return any(candidate is not None and _equal(value, candidate) for candidate in condition.values)
    if isinstance(condition, Lte):
        return _ordered(value, condition.value, lambda a, b: a <= b)
    if isinstance(condition, Gt):
        return _ordered(value, condition.value, lambda a, b: a > b)
    if condition is None:
        return value is None
    return value is not None and _equal(value, condition)


def _assignable(assign: Mapping[str, Scalar]) -> dict[str, Scalar]:
    for field_name in assign:
        if _name(field_name, "field") in ("id", "version"):
            raise ValueError(f"{field_name!r} cannot be assigned")
    return dict(assign)


def _check_condition(field_name: str, condition: Condition) -> None:
    _name(field_name, "field")
    if isinstance(condition, Lte | Gt) and condition.value is None:
        raise ValueError(f"range condition on {field_name!r} needs a non-null value")


def _sort_rank(value: object) -> tuple[int, Any]:
    """A total order over JSON values: null, numbers, strings, objects, arrays, booleans."""
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (5, value)
    if _is_number(value):
        return (1, value)
    if isinstance(value, str):
        return (2, value)
    return (3 if isinstance(value, dict) else 4, json.dumps(value, sort_keys=True))


class CutShort(BaseException):
    """The process stopped here (as by SIGKILL): nothing after it runs, no handler sees it."""


class InMemoryStore:
    """A `DocumentStore` in memory, for tests that want the real repositories without a database.

    Sessions run one at a time (like the SQLite adapter's single connection); each
    snapshots the data on entry and restores it if the block raises, so a failed unit
    of work leaves no trace. Unique indexes follow SQLite: a key with a null part never
    clashes.

    Two switches simulate outages, both raising `StorageError` as the real adapters do:
    `unavailable` fails every `session()`, `migrate()` and `ping()` (the server is
    unreachable); `failing_writes` lets sessions open and read but fails every insert
    and replace (and so rolls the session back).

    Two more simulate a MongoDB server without replica set and a process killed on it:
    with `transactions` off, sessions run at once and one that raises keeps the writes it made; with
    `writes_left` set, that many more writes go through and the next raises `CutShort`.
    """

    def __init__(self, collections: Mapping[str, Sequence[IndexSpec]] | None = COLLECTIONS) -> None:
        self._data: dict[str, dict[str, Document]] = {}
        self._indexes: dict[str, tuple[IndexSpec, ...]] = {}
        self._lock = asyncio.Lock()
        self._closed = False
        self.sessions_opened = 0
        self.rollbacks = 0
        self.unavailable = False
        self.failing_writes = False
        self.transactions = True
        self.writes_left: int | None = None
        self.writes = 0
        if collections is not None:
            self._create(collections)

    # -- DocumentStore

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[DocumentSession]:
        # Without transactions, sessions interleave as they do on such a server.
        async with self._lock if self.transactions else contextlib.nullcontext():
            self._ensure_open()
            self.sessions_opened += 1
            snapshot = copy.deepcopy(self._data)
            session = _MemorySession(self)
            try:
                yield session
            except BaseException:
                if self.transactions:
                    self._data = snapshot
                    self.rollbacks += 1
                raise
            finally:
                session.finish()

    def session(self) -> AbstractAsyncContextManager[DocumentSession]:
        """A transaction: commits when the block exits normally, rolls back when it raises."""
        return self._session()

    async def migrate(self, collections: Mapping[str, Sequence[IndexSpec]]) -> None:
        async with self._lock:
            self._ensure_open()
            self._create(collections)

    async def collections(self) -> frozenset[str]:
        self._ensure_open()
        return frozenset(self._data)

    async def ping(self) -> None:
        self._ensure_open()

    async def supports_transactions(self) -> bool:
        return self.transactions

    async def close(self) -> None:
        async with self._lock:
            self._closed = True

    # -- test helpers (not part of the port)

    def documents(self, collection: str) -> list[Document]:
        """Committed documents of `collection` in id order, as copies."""
        stored = self._data.get(collection, {})
        return [copy.deepcopy(stored[key]) for key in sorted(stored)]

    def inserted(self, collection: str) -> list[Document]:
        """Committed documents of `collection` in the order they were first inserted, as copies.

        Ids sort by creation time only to the millisecond, so tests that care about the
        order within one transaction read it from here.
        """
        return [copy.deepcopy(doc) for doc in self._data.get(collection, {}).values()]

    def count(self, collection: str) -> int:
        return len(self._data.get(collection, {}))

    # -- internals shared with the session

    def _ensure_open(self) -> None:
        if self._closed:
            raise StorageError("in-memory store is closed")
        if self.unavailable:
            raise StorageError("in-memory store is unavailable (switched off by the test)")

    def _ensure_writable(self) -> None:
        if self.failing_writes:
            raise StorageError("in-memory store is failing writes (switched on by the test)")
        if self.writes_left is not None:
            if self.writes_left == 0:
                raise CutShort(f"the process stopped before write {self.writes + 1}")
            self.writes_left -= 1
        self.writes += 1

    def _create(self, collections: Mapping[str, Sequence[IndexSpec]]) -> None:
        for collection, specs in collections.items():
            _name(collection, "collection")
            for spec in specs:
                _name(spec.name, "index")
                if not spec.fields:
                    raise ValueError(f"index {spec.name!r} has no fields")
                for field_name in spec.fields:
                    _name(field_name, "field")
            self._data.setdefault(collection, {})
            known = {spec.name: spec for spec in self._indexes.get(collection, ())}
            known.update({spec.name: spec for spec in specs})
            self._indexes[collection] = tuple(known.values())

    def _table(self, collection: str) -> dict[str, Document]:
        _name(collection, "collection")
        table = self._data.get(collection)
        if table is None:
            raise StorageError(f"no such collection {collection!r} (was the store migrated?)")
        return table

    def _check_unique(self, collection: str, doc: Document) -> None:
        doc_id = doc["id"]
        for spec in self._indexes.get(collection, ()):
            if not spec.unique:
                continue
            key = tuple(doc.get(name) for name in spec.fields)
            if any(part is None for part in key):
                continue
            for other_id, other in self._data[collection].items():
                if other_id == doc_id:
                    continue
                other_key = tuple(other.get(name) for name in spec.fields)
                if all(
                    theirs is not None and _equal(theirs, mine)
                    for theirs, mine in zip(other_key, key, strict=True)
                ):
                    raise DuplicateDocument(f"{collection}: unique index {spec.name} already holds {key!r}")


class _MemorySession:
    def __init__(self, store: InMemoryStore) -> None:
        self._store = store
        self._open = True

    def finish(self) -> None:
        self._open = False

    def _live(self) -> InMemoryStore:
        if not self._open:
            raise RuntimeError("document session used after its transaction ended")
        return self._store

    async def insert(self, collection: str, doc: Document) -> None:
        store = self._live()
        store._ensure_writable()
        table = store._table(collection)
        doc_id = _doc_id(doc)
        stored = _as_stored(doc)
        if doc_id in table:
            raise DuplicateDocument(f"{collection}: id {doc_id!r} already exists")
        store._check_unique(collection, stored)
        table[doc_id] = stored

    async def get(self, collection: str, doc_id: str) -> Document | None:
        table = self._live()._table(collection)
        found = table.get(doc_id)
        return None if found is None else copy.deepcopy(found)

    async def find(
        self,
        collection: str,
        where: Filter,
        *,
        limit: int,
        after_id: str | None = None,
        order_by: str = "id",
        descending: bool = False,
    ) -> list[Document]:
        table = self._live()._table(collection)
        for field_name, condition in where.items():
            _check_condition(field_name, condition)
        _name(order_by, "field")
        if limit < 0:
            raise ValueError(f"limit must not be negative, got {limit}")
        hits = [
            doc
            for doc_id, doc in table.items()
            if (after_id is None or (doc_id < after_id if descending else doc_id > after_id))
            and all(_matches(doc, name, condition) for name, condition in where.items())
        ]
        hits.sort(key=lambda doc: (_sort_rank(doc.get(order_by)), doc["id"]), reverse=descending)
        return [copy.deepcopy(doc) for doc in hits[:limit]]

    async def count(self, collection: str, where: Filter) -> int:
        table = self._live()._table(collection)
        for field_name, condition in where.items():
            _check_condition(field_name, condition)
        return sum(all(_matches(doc, name, c) for name, c in where.items()) for doc in table.values())

    async def replace(self, collection: str, doc: Document, expected_version: int) -> None:
        store = self._live()
        store._ensure_writable()
        table = store._table(collection)
        doc_id = _doc_id(doc)
        if doc.get("version") != expected_version + 1:
            raise ValueError(
                f"replacement must carry version {expected_version + 1}, got {doc.get('version')!r}"
            )
        stored = _as_stored(doc)
        current = table.get(doc_id)
        if current is None or not _equal(current.get("version"), expected_version):
            raise VersionMismatch(f"{collection}/{doc_id}: stored version is not {expected_version}")
        store._check_unique(collection, stored)
        table[doc_id] = stored

    async def claim(
        self, collection: str, where: Filter, *, order_by: str, limit: int, assign: Mapping[str, Scalar]
    ) -> list[Document]:
        fields = _assignable(assign)
        taken = []
        for doc in await self.find(collection, where, limit=limit, order_by=order_by):
            changed = {**doc, **fields, "version": doc["version"] + 1}
            await self.replace(collection, changed, doc["version"])
            taken.append(changed)
        return taken

    async def update_where(self, collection: str, where: Filter, assign: Mapping[str, Scalar]) -> int:
        fields = _assignable(assign)
        everything = len(self._live()._table(collection))
        matching = await self.find(collection, where, limit=everything)
        for doc in matching:
            changed = {**doc, **fields, "version": doc["version"] + 1}
            await self.replace(collection, changed, doc["version"])
        return len(matching)

    async def delete_where(self, collection: str, where: Filter, *, order_by: str = "id", limit: int) -> int:
        store = self._live()
        store._ensure_writable()
        table = store._table(collection)
        picked = await self.find(collection, where, limit=limit, order_by=order_by)
        for doc in picked:
            del table[doc["id"]]
        return len(picked)


# --------------------------------------------------------------------------- queue


class RecordingSignal:
    """A `WorkSignal` that remembers every notification, in order."""

    def __init__(self) -> None:
        self.kinds: list[WorkKind] = []

    def notify(self, kind: WorkKind) -> None:
        self.kinds.append(kind)

    def count(self, kind: WorkKind) -> int:
        return self.kinds.count(kind)


# --------------------------------------------------------------------------- sender


def respond(status_code: int | None, *, error: str | None = None, duration_ms: int = 5) -> SendResult:
    """A `SendResult` for scripting: an HTTP status, or None with an error for a transport failure."""
    return SendResult(status_code=status_code, duration_ms=duration_ms, error=error)


class RecordingSender:
    """A `WebhookSender` answering from a script; once the script runs out, every send gets 200."""

    def __init__(self, script: Iterable[SendResult | int] = ()) -> None:
        self._script: deque[SendResult] = deque()
        self.sent: list[OutboundWebhook] = []
        self.then(*script)

    def then(self, *results: SendResult | int) -> RecordingSender:
        """Append answers; a bare int is an HTTP status code."""
        self._script.extend(respond(r) if isinstance(r, int) else r for r in results)
        return self

    async def send(self, webhook: OutboundWebhook) -> SendResult:
        self.sent.append(webhook)
        return self._script.popleft() if self._script else respond(200)


# --------------------------------------------------------------------------- services


@dataclass(kw_only=True)
class Services:
    """Every service over one `InMemoryStore`, sharing one clock, work signal and sender."""

    store: InMemoryStore
    txn: StoreTxn
    clock: FakeClock
    signal: RecordingSignal
    sender: RecordingSender
    policy: RetryPolicy
    subscriptions: SubscriptionsInternal
    subscriptions_external: SubscriptionsExternal
    inbound: InboundExternal
    inbound_internal: InboundInternal
    merchants: MerchantsExternal
    merchants_internal: MerchantsInternal
    notifications: NotificationsInternal
    notifications_external: NotificationsExternal
    dead_letters: DeadLettersInternal


def build_services(
    *,
    store: InMemoryStore | None = None,
    clock: FakeClock | None = None,
    sender: RecordingSender | None = None,
    policy: RetryPolicy | None = None,
    attempt_timeout: float = 10.0,
    carried: bool = False,
) -> Services:
    """`carried`: the subscriptions services work as over a store without transactions."""
    store = store if store is not None else InMemoryStore()
    clock = clock if clock is not None else FakeClock()
    sender = sender if sender is not None else RecordingSender()
    policy = policy if policy is not None else RetryPolicy(schedule=(10.0, 60.0, 300.0), jitter=0.0)
    signal = RecordingSignal()
    txn = StoreTxn(store, clock=clock)
    return Services(
        store=store,
        txn=txn,
        clock=clock,
        signal=signal,
        sender=sender,
        policy=policy,
        # No tracing: an empty carrier.
        subscriptions=SubscriptionsInternal(txn, clock, dict, carried=carried),
        subscriptions_external=SubscriptionsExternal(txn, clock, carried=carried),
        inbound=InboundExternal(txn, clock, signal, personal_data=PERSONAL_DATA),
        inbound_internal=InboundInternal(txn, clock),
        merchants=MerchantsExternal(txn, clock),
        merchants_internal=MerchantsInternal(txn, clock),
        notifications=NotificationsInternal(
            txn, clock, signal, sender, policy, attempt_timeout, options=DeliveryOptions(carried=carried)
        ),
        notifications_external=NotificationsExternal(txn, clock),
        dead_letters=DeadLettersInternal(txn),
    )
