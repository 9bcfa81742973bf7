"""The subscriptions context's newer queries, on every backend (SQLite, MongoDB, the fake).

Customers and plans change under compare-and-set and list per merchant; the scheduler's
due-time query returns what is due, earliest first, and nothing else; two schedulers on
one store move a subscription once. On SQLite the due query goes through its index.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest

from domain.shared.errors import ConcurrencyConflict
from domain.shared.events import EventType
from domain.shared.outbox import OutboxMessage
from domain.shared.pagination import PageRequest
from domain.subscriptions.external.catalog import NewCustomer, NewPlan
from domain.subscriptions.external.management import NewSubscription
from domain.subscriptions.external.subscriptions import SubscriptionsExternal
from domain.subscriptions.internal import SubscriptionsInternal
from domain.subscriptions.model import Customer, Interval, Plan, Subscription, Unfinished
from domain.subscriptions.ports import PlanFilter
from domain.subscriptions.state_machine import SubscriptionStatus
from integrations.stores.codecs import iso
from integrations.stores.documents import DocumentStore, Lte
from integrations.stores.repositories import StoreUnit
from integrations.stores.schema import COLLECTIONS
from integrations.stores.sqlite import SqliteStore
from integrations.stores.sqlite.sql import compile_find
from integrations.stores.txn import StoreTxn
from tests.support.fakes import FakeClock

T = TypeVar("T")
NOW = datetime(2025, 6, 1, tzinfo=UTC)


async def in_unit(store: DocumentStore, work: Callable[[StoreUnit], Awaitable[T]]) -> T:
    return await StoreTxn(store)(work)


def customer(doc_id: str, merchant_id: str = "mer_1") -> Customer:
    return Customer(id=doc_id, merchant_id=merchant_id, email="a@example.com", name=None, created_at=NOW)


def plan(doc_id: str, merchant_id: str = "mer_1", *, archived: bool = False) -> Plan:
    return Plan(
        id=doc_id,
        merchant_id=merchant_id,
        name="Basic",
        amount=900,
        currency="usd",
        interval=Interval.MONTH,
        archived=archived,
        created_at=NOW,
    )


def subscription(doc_id: str, due: datetime | None, merchant_id: str = "mer_1") -> Subscription:
    return Subscription(
        id=doc_id,
        merchant_id=merchant_id,
        customer_id="cus_1",
        plan_id="plan_1",
        status=SubscriptionStatus.PENDING,
        next_transition_at=due,
        created_at=NOW,
        updated_at=NOW,
    )


async def test_a_customer_changes_under_compare_and_set(store: DocumentStore) -> None:
    async def add(unit: StoreUnit) -> None:
        await unit.customers.add(customer("cus_1"))

    await in_unit(store, add)

    async def rename(unit: StoreUnit) -> Customer:
        return await unit.customers.update(replace(customer("cus_1"), name="Ada"))

    renamed = await in_unit(store, rename)
    assert (renamed.name, renamed.version) == ("Ada", 1)
    with pytest.raises(ConcurrencyConflict):
        await in_unit(store, rename)  # still version 0: someone else changed it meanwhile

    async def read(unit: StoreUnit) -> Customer | None:
        return await unit.customers.get("mer_1", "cus_1")

    assert await in_unit(store, read) == renamed


async def test_customers_and_plans_list_per_merchant_in_pages(store: DocumentStore) -> None:
    async def add(unit: StoreUnit) -> None:
        for n in range(3):
            await unit.customers.add(customer(f"cus_{n}"))
            await unit.plans.add(plan(f"plan_{n}", archived=n == 1))
        await unit.customers.add(customer("cus_other", "mer_2"))
        await unit.plans.add(plan("plan_other", "mer_2"))

    await in_unit(store, add)

    async def lists(unit: StoreUnit) -> tuple[list[str], ...]:
        first = await unit.customers.list("mer_1", PageRequest(limit=2))
        rest = await unit.customers.list("mer_1", PageRequest(limit=2, starting_after="cus_1"))
        plans = await unit.plans.list("mer_1", PlanFilter(), PageRequest())
        archived = await unit.plans.list("mer_1", PlanFilter(archived=True), PageRequest())
        live = await unit.plans.list("mer_1", PlanFilter(archived=False), PageRequest())
        assert first.has_more
        assert not rest.has_more
        return tuple([item.id for item in page.items] for page in (first, rest, plans, archived, live))

    first, rest, plans, archived, live = await in_unit(store, lists)
    assert (first, rest) == (["cus_0", "cus_1"], ["cus_2"])
    assert plans == ["plan_0", "plan_1", "plan_2"]
    assert (archived, live) == (["plan_1"], ["plan_0", "plan_2"])


async def test_a_plan_stored_before_archiving_existed_is_live(store: DocumentStore) -> None:
    async def add(unit: StoreUnit) -> None:
        await unit.plans.add(plan("plan_old"))

    await in_unit(store, add)
    async with store.session() as session:
        doc = await session.get("plans", "plan_old")
        assert doc is not None
        del doc["archived"]
        await session.replace("plans", {**doc, "version": 1}, 0)

    async def live(unit: StoreUnit) -> list[str]:
        page = await unit.plans.list("mer_1", PlanFilter(archived=False), PageRequest())
        return [p.id for p in page.items]

    assert await in_unit(store, live) == ["plan_old"]


async def test_due_returns_what_is_due_earliest_first_across_merchants(store: DocumentStore) -> None:
    async def add(unit: StoreUnit) -> None:
        await unit.subscriptions.add(subscription("sub_late", NOW))
        await unit.subscriptions.add(subscription("sub_early", NOW - timedelta(hours=1), "mer_2"))
        await unit.subscriptions.add(subscription("sub_next", NOW + timedelta(seconds=1)))
        await unit.subscriptions.add(subscription("sub_never", None))

    await in_unit(store, add)

    async def due(unit: StoreUnit) -> tuple[list[str], list[str]]:
        everything = await unit.subscriptions.due(NOW, 10)
        first = await unit.subscriptions.due(NOW, 1)
        return [s.id for s in everything], [s.id for s in first]

    assert await in_unit(store, due) == (["sub_early", "sub_late"], ["sub_early"])


async def test_past_due_since_returns_the_spells_begun_by_the_cutoff(store: DocumentStore) -> None:
    async def add(unit: StoreUnit) -> None:
        for doc_id, since in (("sub_old", NOW - timedelta(days=8)), ("sub_new", NOW), ("sub_none", None)):
            await unit.subscriptions.add(replace(subscription(doc_id, None), past_due_since=since))

    await in_unit(store, add)

    async def overdue(unit: StoreUnit) -> list[str]:
        return [s.id for s in await unit.subscriptions.past_due_since(NOW - timedelta(days=7), 10)]

    assert await in_unit(store, overdue) == ["sub_old"]


@pytest.mark.real_mongodb  # the stand-in compares these strings as times to the millisecond
async def test_due_tells_apart_one_microsecond(store: DocumentStore) -> None:
    async def add(unit: StoreUnit) -> None:
        await unit.subscriptions.add(subscription("sub_at", NOW))
        await unit.subscriptions.add(subscription("sub_after", NOW + timedelta(microseconds=1)))

    await in_unit(store, add)

    async def due(unit: StoreUnit) -> list[str]:
        return [s.id for s in await unit.subscriptions.due(NOW, 10)]

    assert await in_unit(store, due) == ["sub_at"]


async def test_a_subscription_stored_before_subgate_ran_any_reads_as_the_providers(
    store: DocumentStore,
) -> None:
    async def add(unit: StoreUnit) -> None:
        await unit.subscriptions.add(replace(subscription("sub_old", None), provider="stripe"))
        await unit.subscriptions.add(subscription("sub_local", None))

    await in_unit(store, add)
    async with store.session() as session:
        for doc_id in ("sub_old", "sub_local"):
            doc = await session.get("subscriptions", doc_id)
            assert doc is not None
            for field in ("provider_managed", "past_due_since", "trial_notice_for", "next_transition_at"):
                del doc[field]
            await session.replace("subscriptions", {**doc, "version": 1}, 0)

    async def read(unit: StoreUnit) -> list[bool]:
        found = [await unit.subscriptions.get("mer_1", doc_id) for doc_id in ("sub_old", "sub_local")]
        return [s.provider_managed for s in found if s is not None]

    assert await in_unit(store, read) == [True, False]


async def test_two_schedulers_on_one_store_move_a_subscription_once(store: DocumentStore) -> None:
    clock = FakeClock(NOW)
    txn = StoreTxn(store)
    external = SubscriptionsExternal(txn, clock)
    new_customer = await external.customers.create("mer_1", NewCustomer(email="ada@example.com"))
    new_plan = await external.plans.create(
        "mer_1", NewPlan(name="Basic", amount=900, currency="usd", interval=Interval.MONTH)
    )
    for _ in range(3):
        await external.create("mer_1", NewSubscription(customer_id=new_customer.id, plan_id=new_plan.id))
    clock.advance(timedelta(hours=23))
    schedulers = [SubscriptionsInternal(txn, clock, dict) for _ in range(2)]

    runs = await asyncio.gather(*(s.run_schedule() for s in schedulers), schedulers[0].run_schedule())

    assert sum(run.moves for run in runs) == 3
    async with store.session() as session:
        messages = await session.find("outbox", {"event_type": "subscription.expired"}, limit=10)
    assert len(messages) == 3


@pytest.mark.parametrize(
    ("field", "index"),
    [("next_transition_at", "subscriptions_due_set"), ("past_due_since", "subscriptions_past_due_set")],
)
async def test_sqlite_scheduler_queries_go_through_their_index(
    tmp_path: Path, field: str, index: str
) -> None:
    store = SqliteStore(tmp_path / "due.sqlite3")
    try:
        await store.migrate(COLLECTIONS)
        sql, params = compile_find("subscriptions", {field: Lte(iso(NOW))}, limit=100, order_by=field)
        with sqlite3.connect(store.path) as raw:
            plan_rows = " / ".join(row[3] for row in raw.execute(f"EXPLAIN QUERY PLAN {sql}", params))
    finally:
        await store.close()
    # A range search in the index, in its order: no scan of the table, no sort afterwards.
    assert plan_rows.startswith(f"SEARCH subscriptions USING INDEX {index}"), plan_rows
    assert "TEMP B-TREE" not in plan_rows, plan_rows


async def test_a_carried_change_round_trips_with_its_messages(store: DocumentStore) -> None:
    """What a change carries on a store without transactions (`Unfinished`) reads back as written."""
    message = OutboxMessage(
        id="msgsg_1",
        merchant_id="mer_1",
        event_type=EventType.PAYMENT_SUCCEEDED,
        subject_id="sub_1",
        occurred_at=NOW,
        data={"subscription": {"id": "sub_1", "current_period_end": iso(NOW)}, "payment": {"amount": 900}},
        trace_carrier={"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
    )
    carried = replace(
        subscription("sub_1", None),
        unfinished=Unfinished(keys=("invoice:stripe:mer_1:in_1", "evt_1"), messages=(message,)),
    )

    async def add(unit: StoreUnit) -> None:
        await unit.subscriptions.add(carried)

    async def read(unit: StoreUnit) -> Subscription | None:
        return await unit.subscriptions.get("mer_1", "sub_1")

    await in_unit(store, add)
    assert await in_unit(store, read) == carried

    async def finish(unit: StoreUnit) -> Subscription:
        return await unit.subscriptions.update(replace(carried, unfinished=None))

    await in_unit(store, finish)
    read_back = await in_unit(store, read)
    assert read_back is not None
    assert read_back.unfinished is None
