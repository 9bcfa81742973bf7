"""A SQLite store that already holds a long history, made in seconds straight into the file.

`seed_history(path, count)` migrates the real schema, then writes `count` finished inbound
events (with their processed-input keys) and `count` outbox messages each delivered once
(a dispatched message and its succeeded delivery), all through the real domain values and
the real codecs and collection names (`integrations.stores.repositories`), by `executemany`
in one transaction on a plain sqlite3 connection. Nothing goes through the service: that
would take hours at a million events.

The history belongs to merchants of its own (each with a Stripe connection and one endpoint),
so a benchmark's merchants see only their own work in the REST API, while every index they
go through holds the history too.
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import multiprocessing.process
import queue
import random
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final, TypeVar

import orjson

from benchmarks.traffic import subscription_created
from domain.inbound.model import InboundEvent, InboundStatus
from domain.merchants.model import Connection, Merchant, Provider
from domain.notifications.model import (
    Attempt,
    Delivery,
    DeliveryStatus,
    Endpoint,
    SigningSecret,
    lane_of,
)
from domain.notifications.stats import AttemptTally, EndpointHour, HourCounts, hour_id
from domain.shared.clock import system_clock
from domain.shared.events import EventType
from domain.shared.ids import new_id
from integrations.stores.collection import (
    CONNECTIONS,
    DELIVERIES,
    ENDPOINTS,
    INBOUND,
    MERCHANTS,
    Collection,
)
from integrations.stores.documents import Document
from integrations.stores.endpoint_stats import CODEC as STATS_CODEC
from integrations.stores.migrations.runner import Migrator
from integrations.stores.sqlite.store import SqliteStore

HISTORY_MERCHANTS: Final = 50
# The history spreads over the last 90 days, oldest first (ids are made in that order too).
_SPAN: Final = timedelta(days=90)
_SEED: Final = 20250101
_DAY: Final = timedelta(hours=25)
_IGNORED_SHARE: Final = 0.05  # events recorded without effect (types nobody maps, stale snapshots)
_RETRIED_SHARE: Final = 0.03  # deliveries that failed once before they succeeded

_BATCH: Final = 2000  # rows per hand-over from the producer process
_JOIN_S: Final = 30.0
_POLL_S: Final = 1.0

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class HistoryOwner:
    merchant: Merchant
    connection: Connection
    endpoint: Endpoint


@dataclass(frozen=True, slots=True)
class _Sent:
    """What a delivery needs of the outbox message it delivered."""

    message_id: str
    merchant_id: str
    subject_id: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class Seeded:
    events: int
    deliveries: int
    seconds: float
    megabytes: float


def seed_history(path: Path, count: int, merchants: int = HISTORY_MERCHANTS) -> Seeded:
    """Make the SQLite store at `path` (which must not exist yet) with `count` of each; see above.

    The documents are made and encoded in a child process while this one stores them: making
    them (the codecs format every time) costs as much as storing them, and there are two cores.
    The secondary indexes (exactly those `migrate` made) are set aside during the load and built
    again as each table is complete, sorting once instead of growing B-trees row by row; the
    unique ones check the whole table as they are built.
    """
    if path.exists():
        raise FileExistsError(f"{path} exists: the history goes into a new store only")
    started = time.monotonic()
    asyncio.run(_migrate(path))
    context = multiprocessing.get_context("spawn")
    # Unbounded: the producer goes on while an index is being built here (a few hundred MB at most).
    batches: multiprocessing.Queue[tuple[str, list[tuple[str, str]]] | None] = context.Queue()
    producer = context.Process(
        target=_produce, args=(count, datetime.now(UTC), batches, merchants), daemon=True
    )
    producer.start()
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        # Only this connection exists yet: no journal while loading (a failed load leaves a store
        # nobody uses), then back to WAL, which the service insists on.
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA cache_size = -1000000")  # 1 GB: the index B-trees stay in memory
        conn.execute("BEGIN")
        indexes = _set_aside_indexes(conn)
        loading = ""
        for table, rows in _received(batches, producer):
            if table != loading:
                _build(conn, indexes.pop(loading, []))  # that table is complete
                loading = table
            conn.executemany(f'INSERT INTO "{table}" (id, doc) VALUES (?, ?)', rows)  # noqa: S608 - our names
        for remaining in indexes.values():
            _build(conn, remaining)
        conn.execute("COMMIT")
        conn.execute("PRAGMA journal_mode = WAL")
    finally:
        conn.close()
        producer.join(timeout=_JOIN_S)
        if producer.is_alive():
            producer.kill()
    return Seeded(
        events=count,
        deliveries=count,
        seconds=time.monotonic() - started,
        megabytes=path.stat().st_size / 1_000_000,
    )


async def _migrate(path: Path) -> None:
    """The store as a new data directory's: the declared schema at the latest version."""
    store = SqliteStore(path)
    try:
        await Migrator(store, system_clock).prepare(upgrade=False)
    finally:
        await store.close()


def _set_aside_indexes(conn: sqlite3.Connection) -> dict[str, list[str]]:
    """Drop every secondary index; returns each table's CREATE INDEX statements."""
    found: dict[str, list[str]] = {}
    rows = conn.execute(
        "SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
    )
    for name, table, sql in rows.fetchall():
        found.setdefault(table, []).append(sql)
        conn.execute(f'DROP INDEX "{name}"')
    return found


def _build(conn: sqlite3.Connection, statements: list[str]) -> None:
    for statement in statements:
        conn.execute(statement)


def _received(
    batches: multiprocessing.Queue[tuple[str, list[tuple[str, str]]] | None],
    producer: multiprocessing.process.BaseProcess,
) -> Iterator[tuple[str, list[tuple[str, str]]]]:
    while True:
        try:
            batch = batches.get(timeout=_POLL_S)
        except queue.Empty:
            if producer.is_alive():
                continue
            raise RuntimeError(f"the history producer exited with {producer.exitcode}") from None
        if batch is None:
            return
        yield batch


def _produce(
    count: int,
    now: datetime,
    out: multiprocessing.Queue[tuple[str, list[tuple[str, str]]] | None],
    merchants: int = HISTORY_MERCHANTS,
) -> None:
    """The child process: every row of the history, encoded as the store encodes documents, in
    batches, table after table."""
    for table, docs in _documents(count, now, merchants):
        # orjson, as the store encodes every document, so the rows are what it would write.
        rows = ((doc["id"], orjson.dumps(doc).decode()) for doc in docs)
        while batch := list(itertools.islice(rows, _BATCH)):
            out.put((table, batch))
    out.put(None)
    out.close()
    out.join_thread()


def _documents(count: int, now: datetime, merchants: int) -> Iterator[tuple[str, Iterator[Document]]]:
    owners = _owners(now - _SPAN, merchants)
    yield MERCHANTS.name, _docs(MERCHANTS, (owner.merchant for owner in owners))
    yield CONNECTIONS.name, _docs(CONNECTIONS, (owner.connection for owner in owners))
    yield ENDPOINTS.name, _docs(ENDPOINTS, (owner.endpoint for owner in owners))
    event_ids: list[str] = []
    yield INBOUND.name, _docs(INBOUND, _events(owners, count, now, event_ids))
    # Every event of the history was processed: each left its processed-input key behind.
    yield "processed_inputs", ({"id": event_id, "version": 0} for event_id in event_ids)
    tally = AttemptTally(writer="wrk_history")
    yield DELIVERIES.name, _docs(DELIVERIES, _deliveries(owners, _sent(owners, count, now), tally, now))
    # The hourly endpoint counters the worker would have written for the last day's attempts.
    yield "endpoint_hours", (_hour_doc(tally.writer, key, counts) for key, counts in tally.pending.items())


def _docs(collection: Collection[T], values: Iterator[T]) -> Iterator[Document]:
    return map(collection.to_doc, values)


def _owners(at: datetime, merchants: int = HISTORY_MERCHANTS) -> list[HistoryOwner]:
    owners = []
    for number in range(merchants):
        merchant = Merchant(
            id=new_id("mer"), name=f"History merchant {number}", api_key_hash=f"{number:064x}", created_at=at
        )
        connection = Connection(
            id=new_id("conn"),
            merchant_id=merchant.id,
            provider=Provider.STRIPE,
            webhook_secrets=(f"whsec_history_{number:08}",),
            api_key=None,
            created_at=at,
        )
        endpoint = Endpoint(
            id=new_id("ep"),
            merchant_id=merchant.id,
            url=f"https://hooks.example.com/history/{number}",
            event_types=(),
            description=None,
            enabled=True,
            secrets=(SigningSecret(value=f"whsec_{number:032}"),),
            created_at=at,
        )
        owners.append(HistoryOwner(merchant=merchant, connection=connection, endpoint=endpoint))
    return owners


def _ids(prefix: str) -> Iterator[str]:
    """Ids shaped like `new_id`'s (prefix, 10 characters of milliseconds, 16 that increase),
    made in bulk: one real id gives the millisecond, a hex counter the rest (hex digits are
    base32 digits, in the same order). `new_id` would take half the seeding time."""
    head = new_id(prefix)[:-16]
    return (f"{head}{number:016x}" for number in itertools.count())


def _moment(number: int, count: int, now: datetime) -> datetime:
    return now - _SPAN + _SPAN * (number / max(1, count))


def _events(owners: list[HistoryOwner], count: int, now: datetime, ids: list[str]) -> Iterator[InboundEvent]:
    rng = random.Random(_SEED)
    event_ids = _ids("evt")
    for number in range(count):
        owner = owners[number % len(owners)]
        received = _moment(number, count, now)
        ignored = rng.random() < _IGNORED_SHARE
        ids.append(next(event_ids))
        yield InboundEvent(
            id=ids[-1],
            merchant_id=owner.merchant.id,
            connection_id=owner.connection.id,
            provider="stripe",
            provider_event_id=f"evt_history_{number}",
            type="customer.subscription.created",
            status=InboundStatus.IGNORED if ignored else InboundStatus.APPLIED,
            source_ip=f"54.187.{number % 250}.{number // 250 % 250}",
            received_at=received,
            body=subscription_created(number, "history", int(received.timestamp())),
            provider_created_at=received - timedelta(milliseconds=300),
            reason="an older snapshot than the one stored" if ignored else None,
            attempts=0,
            processed_at=received + timedelta(milliseconds=40),
            trace_carrier={"traceparent": f"00-{number:032x}-{number:016x}-01"},
            due_at=received + timedelta(seconds=60),
            lease_owner=None,
            version=2,
        )


def _sent(owners: list[HistoryOwner], count: int, now: datetime) -> Iterator[_Sent]:
    subjects, messages = _ids("sub"), _ids("msg")
    for number in range(count):
        at = _moment(number, count, now) + timedelta(milliseconds=40)
        yield _Sent(next(messages), owners[number % len(owners)].merchant.id, next(subjects), at)


def _hour_doc(writer: str, key: tuple[str, str, datetime], counts: HourCounts) -> Document:
    merchant_id, endpoint_id, hour = key
    at = EndpointHour(
        id=hour_id(endpoint_id, hour, writer),
        merchant_id=merchant_id,
        endpoint_id=endpoint_id,
        hour=hour,
        writer=writer,
        counts=counts,
    )
    return STATS_CODEC.to_doc(at)


def _deliveries(
    owners: list[HistoryOwner], messages: Iterator[_Sent], tally: AttemptTally, now: datetime
) -> Iterator[Delivery]:
    rng = random.Random(_SEED + 1)
    endpoints = {owner.merchant.id: owner.endpoint for owner in owners}
    delivery_ids = _ids("dlv")
    for message in messages:
        endpoint = endpoints[message.merchant_id]
        sent = message.occurred_at + timedelta(milliseconds=30)
        attempts = [
            Attempt(at=sent, status_code=200, duration_ms=rng.randint(20, 400), response_excerpt="ok")
        ]
        if rng.random() < _RETRIED_SHARE:
            failed = Attempt(at=sent, status_code=503, duration_ms=rng.randint(20, 400), error="HTTP 503")
            attempts = [failed, Attempt(at=sent + timedelta(seconds=5), status_code=200, duration_ms=31)]
        yield Delivery(
            id=next(delivery_ids),
            merchant_id=message.merchant_id,
            endpoint_id=endpoint.id,
            message_id=message.message_id,
            event_type=EventType.SUBSCRIPTION_CREATED.value,
            status=DeliveryStatus.SUCCEEDED,
            attempts=tuple(attempts),
            next_attempt_at=None,
            created_at=message.occurred_at,
            updated_at=attempts[-1].at,
            lease_owner=None,
            lane=lane_of(endpoint.id, message.subject_id),
            subject_id=message.subject_id,
            version=len(attempts) * 2,
        )
        if now - sent <= _DAY:
            for attempt in attempts:
                tally.count(message.merchant_id, endpoint.id, attempt)
