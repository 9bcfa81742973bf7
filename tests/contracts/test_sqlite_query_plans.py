"""Every statement on a hot path goes through an index: none reads a whole table.

Each test runs one hot operation of the service (the real services and repositories, on a real
SQLite store) and records every statement it sends to SQLite (`SqliteStore(trace=...)`). Each
statement must then:

- have a query plan (EXPLAIN QUERY PLAN) made of index searches, with no SCAN step, and use
  the indexes the operation is designed around (so that a dropped or reshaped index, or a
  filter that no longer matches its index's expressions, fails here rather than as a slow
  production database with a long history);
- compile (EXPLAIN) to a program that never rewinds a cursor over a stored table or index,
  which is how SQLite starts a full scan; this also covers INSERTs, which have no query plan:
  the duplicate check of an inbound event is the unique index's probe.

The planner works from the schema alone here, as in production, where the store never runs
ANALYZE: the plans do not depend on what the tables hold.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from domain.inbound.external import InboundExternal
from domain.inbound.internal import InboundInternal, ProcessingOutcome
from domain.inbound.model import InboundStatus
from domain.merchants.external import MerchantsExternal, NewConnection
from domain.merchants.internal import MerchantsInternal
from domain.merchants.model import Connection
from domain.notifications.external import NewEndpoint, NotificationsExternal
from domain.notifications.internal import NotificationsInternal
from domain.notifications.retry import RetryPolicy
from domain.shared.pagination import PageRequest
from domain.shared.personal import Person
from domain.subscriptions.external.subscriptions import SubscriptionsExternal
from domain.subscriptions.internal import SubscriptionsInternal
from domain.subscriptions.ports import SubscriptionFilter
from integrations.providers.personal import ProviderPayloads
from integrations.providers.stripe.personal import STRIPE_PERSONAL
from integrations.providers.stripe.samples import subscription_event
from integrations.stores.backlog import QueueCounts
from integrations.stores.idempotency import KeyedRequest, StoredIdempotencyKeys
from integrations.stores.leases import WorkerRegistry
from integrations.stores.repositories import StoreUnit
from integrations.stores.retention.purge import Purger
from integrations.stores.schema import COLLECTIONS
from integrations.stores.sqlite import SqliteStore
from integrations.stores.txn import StoreTxn
from tests.contracts.steps import apply_claimed
from tests.support.fakes import FakeClock, RecordingSender, RecordingSignal
from tests.support.work import deliver_due, verified_stripe_event

OWNER = "wrk_plans"
_INDEX = re.compile(r"USING (?:COVERING )?INDEX (\w+)")
_STATEMENTS = ("SELECT", "INSERT", "UPDATE", "DELETE")
# How SQLite's bytecode starts a loop over every row of a cursor (forwards, backwards).
_FULL_LOOP = frozenset({"Rewind", "Last"})


@dataclass
class World:
    """One merchant with a Stripe connection and an endpoint, on a store that records its SQL."""

    store: SqliteStore
    statements: list[str]
    clock: FakeClock
    txn: StoreTxn
    merchant_id: str
    connection: Connection
    inbound: InboundExternal
    inbound_internal: InboundInternal
    subscriptions: SubscriptionsInternal
    notifications: NotificationsInternal
    notifications_external: NotificationsExternal
    merchants: MerchantsExternal

    async def receive(self, name: str) -> None:
        body = subscription_event(
            "customer.subscription.created", event_id=f"evt_{name}", sub_id=f"sub_{name}"
        )
        await self.inbound.receive(
            verified_stripe_event(
                merchant_id=self.merchant_id,
                connection_id=self.connection.id,
                event_id=f"evt_{name}",
                event_type="customer.subscription.created",
                body=body,
            )
        )

    async def apply_all(self) -> None:
        """Claim every accepted event, apply it and record it: outbox messages wait then."""
        await apply_claimed(self.inbound_internal, self.subscriptions, self.clock, OWNER, 100)

    def traced(self) -> list[str]:
        """The statements recorded since the last call (reads, writes; not BEGIN, PRAGMA...)."""
        found = [sql.strip() for sql in self.statements if sql.lstrip().upper().startswith(_STATEMENTS)]
        self.statements.clear()
        return found


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    statements: list[str] = []
    store = SqliteStore(tmp_path / "subgate.sqlite3", trace=statements.append)
    await store.migrate(COLLECTIONS)
    clock = FakeClock()
    txn = StoreTxn(store, clock=clock)
    signal = RecordingSignal()
    merchant, _ = await MerchantsInternal(txn, clock).create_merchant("Plans")
    merchants = MerchantsExternal(txn, clock)
    connection = await merchants.create_connection(
        merchant.id, NewConnection(provider="stripe", webhook_secrets=["whsec_query_plans"])
    )
    notifications_external = NotificationsExternal(txn, clock, signal)
    await notifications_external.create_endpoint(
        merchant.id, NewEndpoint(url="https://hooks.example.com/plans")
    )
    try:
        yield World(
            store=store,
            statements=statements,
            clock=clock,
            txn=txn,
            merchant_id=merchant.id,
            connection=connection,
            inbound=InboundExternal(
                txn, clock, signal, personal_data=ProviderPayloads({"stripe": STRIPE_PERSONAL})
            ),
            inbound_internal=InboundInternal(txn, clock),
            subscriptions=SubscriptionsInternal(txn, clock, dict),
            notifications=NotificationsInternal(
                txn, clock, signal, RecordingSender(), RetryPolicy(schedule=(10.0,), jitter=0.0), 10.0
            ),
            notifications_external=notifications_external,
            merchants=merchants,
        )
    finally:
        await store.close()


def assert_indexed(world: World, statements: list[str], indexes: set[str]) -> None:
    """No statement reads a whole table; together they use `indexes`."""
    assert statements, "the operation ran no statement"
    used: set[str] = set()
    with closing(sqlite3.connect(world.store.path)) as raw:
        stored_roots = {
            row[0] for row in raw.execute("SELECT rootpage FROM sqlite_master WHERE rootpage > 0")
        }
        for sql in statements:
            plan = [str(row[3]) for row in raw.execute(f"EXPLAIN QUERY PLAN {sql}")]
            scans = [step for step in plan if step.startswith("SCAN ") and step != "SCAN CONSTANT ROW"]
            assert not scans, f"{sql[:300]}\n{plan}"
            if not sql.upper().startswith("INSERT"):
                assert any(step.startswith("SEARCH ") for step in plan), f"{sql[:300]}\n{plan}"
            used |= {match.group(1) for step in plan if (match := _INDEX.search(step))}
            program = raw.execute(f"EXPLAIN {sql}").fetchall()
            cursors = {
                row[2] for row in program if row[1] in ("OpenRead", "OpenWrite") and row[3] in stored_roots
            }
            loops = [row for row in program if row[1] in _FULL_LOOP and row[2] in cursors]
            assert not loops, f"{sql[:300]} loops over a whole table or index: {loops}"
    assert indexes <= used, f"not used: {indexes - used}; used: {used}"


def probes(world: World, sql: str, index: str) -> bool:
    """Whether the INSERT checks for a clash by looking the new key up in `index`."""
    with closing(sqlite3.connect(world.store.path)) as raw:
        (root,) = raw.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (index,)).fetchone()
        program = raw.execute(f"EXPLAIN {sql}").fetchall()
    cursors = {row[2] for row in program if row[1] == "OpenWrite" and row[3] == root}
    return any(row[1] == "NoConflict" and row[2] in cursors for row in program)


async def test_the_inbound_claim(world: World) -> None:
    await world.receive("one")
    world.traced()

    assert len(await world.inbound_internal.claim(OWNER, 100)) == 1

    assert_indexed(world, world.traced(), {"inbound_events_due"})


async def test_the_duplicate_check_of_an_inbound_event(world: World) -> None:
    await world.receive("one")
    world.traced()

    await world.receive("one")  # the provider sends it again

    [insert] = world.traced()
    assert_indexed(world, [insert], set())
    assert probes(world, insert, "inbound_events_provider_id")


async def test_recording_inbound_outcomes(world: World) -> None:
    await world.receive("one")
    [event] = await world.inbound_internal.claim(OWNER, 100)
    world.traced()

    await world.inbound_internal.record([ProcessingOutcome(event_id=event.id, status=InboundStatus.APPLIED)])

    assert_indexed(world, world.traced(), {"sqlite_autoindex_inbound_events_1"})


async def test_the_outbox_pending_read_and_its_fan_out(world: World) -> None:
    await world.receive("one")
    await world.apply_all()
    world.traced()

    assert await world.notifications.dispatch_pending(100) == 1

    indexes = {"outbox_pending", "endpoints_merchant", "deliveries_message_endpoint"}
    assert_indexed(world, world.traced(), indexes)


async def test_the_delivery_claim(world: World) -> None:
    await world.receive("one")
    await world.apply_all()
    await world.notifications.dispatch_pending(100)
    world.traced()

    assert len(await world.notifications.claim(OWNER, 100)) == 1

    assert_indexed(world, world.traced(), {"deliveries_due", "deliveries_lane"})


async def test_recording_delivery_attempts(world: World) -> None:
    await world.receive("one")
    await world.apply_all()
    await world.notifications.dispatch_pending(100)
    claimed = await world.notifications.claim(OWNER, 100)
    results = [await world.notifications.send(one) for one in claimed]
    world.traced()

    assert len(await world.notifications.record(results)) == 1

    assert_indexed(world, world.traced(), {"sqlite_autoindex_deliveries_1", "deliveries_lane"})


async def test_the_lease_hand_back(world: World) -> None:
    await world.receive("one")
    await world.receive("two")
    await world.apply_all()
    await world.receive("three")
    await world.notifications.dispatch_pending(100)
    await world.inbound_internal.claim(OWNER, 100)
    await world.notifications.claim(OWNER, 100)
    world.traced()

    assert await world.inbound_internal.release(OWNER) == 1
    assert await world.notifications.release(OWNER) == 2

    assert_indexed(world, world.traced(), {"inbound_events_leased", "deliveries_leased"})


async def test_the_heartbeat(world: World) -> None:
    registry = WorkerRegistry(world.store, world.clock)
    await registry.beat("wrk_other")
    world.clock.advance(timedelta(seconds=10))
    world.traced()

    await registry.beat(OWNER)
    assert await registry.silent_since(registry.cutoff(timedelta(seconds=5))) == ["wrk_other"]
    assert await registry.retire("wrk_other")

    assert_indexed(world, world.traced(), {"workers_heartbeat", "sqlite_autoindex_workers_1"})


async def test_the_connection_lookup_of_an_inbound_webhook(world: World) -> None:
    world.traced()

    found = await world.merchants.connection_for_webhook("stripe", world.connection.id)

    assert found.id == world.connection.id
    assert_indexed(world, world.traced(), {"sqlite_autoindex_connections_1"})


async def test_the_subscription_lookups_by_provider_id(world: World) -> None:
    await world.receive("one")
    await world.apply_all()
    world.traced()

    async def link(unit: StoreUnit) -> str | None:
        return await unit.provider_links.find(world.merchant_id, "subscription", "stripe", "sub_one")

    assert await world.txn(link) is not None
    page = await SubscriptionsExternal(world.txn, world.clock).list(
        world.merchant_id, SubscriptionFilter(provider_subscription_id="sub_one"), PageRequest(limit=10)
    )
    assert len(page.items) == 1

    indexes = {"sqlite_autoindex_provider_links_1", "subscriptions_merchant_provider_id"}
    assert_indexed(world, world.traced(), indexes)


async def test_the_idempotency_key_lookup(world: World) -> None:
    keys = StoredIdempotencyKeys(world.store, world.clock)
    request = KeyedRequest(merchant_id=world.merchant_id, key="key-1", fingerprint="POST /v1/endpoints")
    await keys.begin(request)
    world.traced()

    await keys.begin(request)  # the same key again: answered from its record

    assert_indexed(world, world.traced(), {"idempotency_keys_merchant_key"})


async def test_the_queue_counts(world: World) -> None:
    await world.receive("one")
    await world.receive("two")
    await world.apply_all()
    await world.receive("three")
    await world.notifications.dispatch_pending(1)
    world.traced()

    counted = await QueueCounts(world.store, world.clock).count()

    assert (counted.inbound.depth, counted.outbox.depth, counted.deliveries.depth) == (1, 1, 1)
    counts = world.traced()
    assert len(counts) == 5
    assert_indexed(world, counts, {"inbound_events_due", "outbox_pending", "deliveries_due"})


async def test_the_purge_of_payloads_and_of_records(world: World) -> None:
    for name in ("one", "two", "three"):
        await world.receive(name)
    await world.apply_all()
    await world.notifications.dispatch_pending(100)
    await deliver_due(world.notifications, OWNER, 100)
    registry = WorkerRegistry(world.store, world.clock)
    await registry.beat("wrk_gone")
    await registry.retire("wrk_gone")
    keys = StoredIdempotencyKeys(world.store, world.clock)
    await keys.begin(KeyedRequest(merchant_id=world.merchant_id, key="key-1", fingerprint="f"))
    purger = Purger(world.store, world.clock, payloads=timedelta(days=1), records=timedelta(days=2))
    world.clock.advance(timedelta(days=1, seconds=1))
    world.traced()

    payloads = await purger.purge(purger.cutoffs())
    world.clock.advance(timedelta(days=1))
    records = await purger.purge(purger.cutoffs())

    assert (payloads.tally.counts["inbound_payloads"], payloads.tally.counts["outbox_payloads"]) == (3, 3)
    assert (records.tally.counts["inbound_events"], records.tally.counts["deliveries"]) == (3, 3)
    assert records.tally.counts["processed_inputs"] == 3
    indexes = {
        "inbound_events_status",
        "inbound_events_payload",
        "outbox_payload",
        "outbox_age",
        "deliveries_message_endpoint",
        "dead_letters_delivery",
        "idempotency_keys_expiry",
        "processed_inputs_age",
        "workers_heartbeat",
    }
    assert_indexed(world, world.traced(), indexes)


async def test_the_dry_run_of_a_purge(world: World) -> None:
    await world.receive("one")
    await world.apply_all()
    await world.notifications.dispatch_pending(100)
    purger = Purger(world.store, world.clock, payloads=timedelta(days=1), records=timedelta(days=2))
    world.clock.advance(timedelta(days=3))
    world.traced()

    counted = await purger.count(purger.cutoffs())

    assert counted.counts["inbound_events"] == 1
    indexes = {"inbound_events_status", "inbound_events_payload", "outbox_pending", "processed_inputs_age"}
    assert_indexed(world, world.traced(), indexes)


async def test_the_lookups_of_an_erasure(world: World) -> None:
    await world.receive("one")
    await world.apply_all()
    world.traced()

    assert await world.notifications_external.customer_addresses(world.merchant_id, "cus_1") == ()
    assert (
        await world.inbound.erase(world.merchant_id, Person(provider_customer_ids={"stripe": "cus_x"})) == 0
    )
    assert await world.notifications_external.erase_customer_emails(world.merchant_id, "cus_1") == 0

    assert_indexed(world, world.traced(), {"customer_emails_customer", "inbound_events_merchant"})


async def test_the_portal_lists_newest_first_by_each_filter(world: World) -> None:
    from domain.inbound.model import InboundStatus as Inbound  # noqa: PLC0415 - only here
    from domain.inbound.ports import InboundFilter  # noqa: PLC0415 - only here
    from domain.notifications.model import DeliveryStatus  # noqa: PLC0415 - only here
    from domain.notifications.ports import DeliveryFilter  # noqa: PLC0415 - only here

    await world.receive("one")
    await world.apply_all()
    await world.notifications.dispatch_pending(100)
    notifications = NotificationsExternal(world.txn, world.clock, RecordingSignal())
    newest = PageRequest(limit=25, newest_first=True, starting_after="dlv_zzzz")
    since, until = world.clock() - timedelta(days=1), world.clock()
    filters = {
        "deliveries_merchant": DeliveryFilter(made_from=since, made_before=until),
        "deliveries_merchant_endpoint": DeliveryFilter(endpoint_id="ep_1"),
        "deliveries_merchant_status": DeliveryFilter(status=DeliveryStatus.DEAD),
        "deliveries_merchant_type": DeliveryFilter(event_type="payment.failed"),
        "deliveries_merchant_subject": DeliveryFilter(subject_ids=("sub_1",)),
    }
    for index, where in filters.items():
        world.traced()
        await notifications.list_deliveries(world.merchant_id, where, newest)
        assert_indexed(world, world.traced(), {index})

    await notifications.list_deliveries(
        world.merchant_id, DeliveryFilter(subject_ids=("sub_1", "sub_2")), newest
    )
    assert_indexed(world, world.traced(), {"deliveries_merchant_subject"})
    inbound = InboundExternal(world.txn, world.clock, RecordingSignal())
    await inbound.list(world.merchant_id, InboundFilter(status=Inbound.FAILED), newest)
    assert_indexed(world, world.traced(), {"inbound_events_merchant_status"})


async def test_the_portal_overview_reads(world: World) -> None:
    from domain.merchants.portal import PortalSessions  # noqa: PLC0415 - only here
    from domain.notifications.history import NotificationHistory  # noqa: PLC0415 - only here

    history = NotificationHistory(world.txn, world.clock)
    sessions = PortalSessions(world.txn, world.clock)
    issued = await sessions.issue(world.merchant_id)
    opened = await sessions.open(issued.token)
    world.traced()

    await sessions.authenticate(opened.token)
    assert_indexed(world, world.traced(), {"portal_sessions_session"})
    endpoints = await NotificationsExternal(world.txn, world.clock).list_endpoints(
        world.merchant_id, PageRequest(limit=100)
    )
    world.traced()
    await history.health(world.merchant_id, endpoints.items)
    await history.open_dead_letters(world.merchant_id)
    await history.open_dead_letters(world.merchant_id, endpoints.items[0].id)
    await history.dead_letters(world.merchant_id, None, PageRequest(limit=25, newest_first=True))
    indexes = {"endpoint_hours_merchant", "dead_letters_open", "dead_letters_endpoint_open"}
    assert_indexed(world, world.traced(), indexes)
    await sessions.revoke_all(world.merchant_id)
    assert_indexed(world, world.traced(), {"portal_sessions_merchant"})
