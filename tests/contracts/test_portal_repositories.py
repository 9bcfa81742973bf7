"""What the portal reads and writes, on every backend (SQLite, MongoDB, the fake): portal
sessions by token digest, the hourly endpoint counters, and lists newest first."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest

from domain.merchants.portal import PortalSession
from domain.notifications.model import Attempt, Delivery, DeliveryStatus
from domain.notifications.ports import DeliveryFilter
from domain.notifications.stats import EndpointHour, HourCounts, hour_id
from domain.shared.errors import ConcurrencyConflict
from domain.shared.ids import id_time_floor
from domain.shared.pagination import PageRequest
from integrations.stores.documents import DocumentStore
from integrations.stores.repositories import StoreUnit
from integrations.stores.txn import StoreTxn

T = TypeVar("T")
NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)


async def in_unit(store: DocumentStore, work: Callable[[StoreUnit], Awaitable[T]]) -> T:
    return await StoreTxn(store)(work)


def session(n: int, merchant_id: str = "mer_1", **changes: object) -> PortalSession:
    made = PortalSession(
        id=f"ps_{n}",
        merchant_id=merchant_id,
        merchant_name="Acme",
        read_only=False,
        link_hash=f"{n:064x}",
        session_hash=None,
        created_at=NOW,
        expires_at=NOW + timedelta(hours=1),
    )
    return replace(made, **changes)  # type: ignore[arg-type]


async def test_sessions_are_found_by_either_digest_and_many_may_be_unopened(store: DocumentStore) -> None:
    async def work(unit: StoreUnit) -> tuple[object, ...]:
        for n in (1, 2, 3):
            await unit.portal_sessions.add(session(n))
        opened = await unit.portal_sessions.update(replace(session(2), session_hash="ab" * 32, opened_at=NOW))
        return (
            await unit.portal_sessions.by_link_hash(f"{1:064x}"),
            await unit.portal_sessions.by_session_hash("ab" * 32),
            await unit.portal_sessions.by_link_hash("f" * 64),
            opened,
        )

    first, by_cookie, unknown, opened = await in_unit(store, work)
    assert first == session(1)
    assert by_cookie == opened == replace(session(2), session_hash="ab" * 32, opened_at=NOW, version=1)
    assert unknown is None


async def test_a_session_changed_meanwhile_is_a_conflict(store: DocumentStore) -> None:
    async def add(unit: StoreUnit) -> None:
        await unit.portal_sessions.add(session(1))

    async def open_twice(unit: StoreUnit) -> None:
        await unit.portal_sessions.update(replace(session(1), opened_at=NOW))

    await in_unit(store, add)
    await in_unit(store, open_twice)
    with pytest.raises(ConcurrencyConflict):
        await in_unit(store, open_twice)


async def test_revoking_counts_the_merchants_live_sessions_only(store: DocumentStore) -> None:
    async def work(unit: StoreUnit) -> tuple[int, int, PortalSession | None]:
        await unit.portal_sessions.add(session(1))
        await unit.portal_sessions.add(session(2, revoked_at=NOW - timedelta(hours=1)))
        await unit.portal_sessions.add(session(3, merchant_id="mer_2"))
        first = await unit.portal_sessions.revoke_all("mer_1", NOW)
        again = await unit.portal_sessions.revoke_all("mer_1", NOW)
        return first, again, await unit.portal_sessions.by_link_hash(f"{3:064x}")

    first, again, others = await in_unit(store, work)
    assert (first, again) == (1, 0)
    assert others is not None
    assert others.revoked_at is None


def endpoint_hour(at: datetime, writer: str = "wrk_1", endpoint_id: str = "ep_1") -> EndpointHour:
    counted = HourCounts().counted(Attempt(at=at, status_code=500, duration_ms=70, error="HTTP 500"))
    return EndpointHour(
        id=hour_id(endpoint_id, at, writer),
        merchant_id="mer_1",
        endpoint_id=endpoint_id,
        hour=at,
        writer=writer,
        counts=counted,
    )


async def test_endpoint_hours_are_added_to_and_read_by_range(store: DocumentStore) -> None:
    async def work(unit: StoreUnit) -> list[EndpointHour]:
        for back in range(30):
            await unit.endpoint_stats.add(endpoint_hour(NOW - timedelta(hours=back)))
        stored = await unit.endpoint_stats.get(hour_id("ep_1", NOW, "wrk_1"))
        assert stored is not None
        await unit.endpoint_stats.update(replace(stored, counts=stored.counts.plus(stored.counts)))
        return list(await unit.endpoint_stats.since("mer_1", NOW - timedelta(hours=23)))

    found = await in_unit(store, work)
    assert [row.hour for row in found] == [NOW - timedelta(hours=back) for back in range(23, -1, -1)]
    assert found[-1].counts.failed == 2
    assert found[-1].counts.last_error == "HTTP 500"


async def test_an_endpoint_hour_written_twice_is_a_conflict(store: DocumentStore) -> None:
    async def add(unit: StoreUnit) -> None:
        await unit.endpoint_stats.add(endpoint_hour(NOW))

    await in_unit(store, add)
    with pytest.raises(ConcurrencyConflict):
        await in_unit(store, add)


def delivery(doc_id: str, **changes: object) -> Delivery:
    made = Delivery(
        id=doc_id,
        merchant_id="mer_1",
        endpoint_id="ep_1",
        message_id="msg_" + doc_id,
        event_type="subscription.created",
        status=DeliveryStatus.SUCCEEDED,
        attempts=(),
        next_attempt_at=None,
        created_at=NOW,
        updated_at=NOW,
    )
    return replace(made, **changes)  # type: ignore[arg-type]


def made_at(minutes: int, n: int) -> str:
    return f"{id_time_floor('dlv', NOW + timedelta(minutes=minutes))}{n:016d}"


async def test_deliveries_newest_first_with_filters_time_range_and_cursor(store: DocumentStore) -> None:
    rows = [
        delivery(made_at(0, 1), subject_id="sub_1"),
        delivery(made_at(10, 2), subject_id="sub_2", status=DeliveryStatus.DEAD),
        delivery(made_at(20, 3), subject_id="sub_1", event_type="payment.failed"),
        delivery(made_at(30, 4), subject_id="sub_3", endpoint_id="ep_2"),
        delivery(made_at(40, 5), merchant_id="mer_2", subject_id="sub_1"),
    ]

    async def work(unit: StoreUnit) -> dict[str, list[str]]:
        for row in rows:
            await unit.deliveries.add(row)

        async def ids(where: DeliveryFilter, limit: int = 10, after: str | None = None) -> list[str]:
            page = PageRequest(limit=limit, starting_after=after, newest_first=True)
            return [d.id for d in (await unit.deliveries.list("mer_1", where, page)).items]

        window = DeliveryFilter(
            made_from=NOW + timedelta(minutes=10), made_before=NOW + timedelta(minutes=30)
        )
        return {
            "all": await ids(DeliveryFilter()),
            "after": await ids(DeliveryFilter(), after=rows[2].id),
            "subject": await ids(DeliveryFilter(subject_ids=("sub_1",))),
            "subjects": await ids(DeliveryFilter(subject_ids=("sub_2", "sub_3"))),
            "none": await ids(DeliveryFilter(subject_ids=())),
            "type": await ids(DeliveryFilter(event_type="payment.failed")),
            "status": await ids(DeliveryFilter(status=DeliveryStatus.DEAD)),
            "window": await ids(window),
            "window_after": await ids(window, after=rows[2].id),
            "oldest_first": [
                d.id for d in (await unit.deliveries.list("mer_1", window, PageRequest(limit=10))).items
            ],
        }

    found = await in_unit(store, work)
    a, b, c, d, _ = (row.id for row in rows)
    assert found == {
        "all": [d, c, b, a],
        "after": [b, a],
        "subject": [c, a],
        "subjects": [d, b],
        "none": [],
        "type": [c],
        "status": [b],
        "window": [c, b],
        "window_after": [b],
        "oldest_first": [b, c],
    }
