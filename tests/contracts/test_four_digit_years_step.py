"""Migration step 1 on every backend: times an earlier release stored with a short year are
rewritten with four digits, so the indexes and range filters that compare the stored text
find them (a due time of year 999 sorted after 2025 and never came due)."""

from __future__ import annotations

from integrations.stores.documents import DocumentStore, Lte
from integrations.stores.migrations.four_digit_years import four_digit_years

NOW = "2026-01-01T00:00:00.000000Z"


async def _due(store: DocumentStore) -> list[str]:
    async with store.session() as session:
        found = await session.find(
            "inbound_events", {"status": "accepted", "due_at": Lte(NOW)}, limit=10, order_by="due_at"
        )
    return [doc["id"] for doc in found]


async def test_short_years_are_rewritten_and_the_due_work_is_found(store: DocumentStore) -> None:
    event = {
        "id": "evt_old",
        "version": 4,
        "merchant_id": "mer_1",
        "connection_id": "conn_1",
        "provider": "stripe",
        "provider_event_id": "evt_1",
        "type": "customer.subscription.created",
        "status": "accepted",
        "received_at": "999-12-31T23:59:59.000000Z",
        "due_at": "999-12-31T23:59:59.000000Z",
        "source_ip": "203.0.113.9",
    }
    customer = {
        "id": "cus_1",
        "version": 0,
        "merchant_id": "mer_1",
        "email": "a@example.com",
        "name": "12-01-01T00:00:00.000000Z",
        "created_at": "2025-01-01T00:00:00.000000Z",
    }
    async with store.session() as session:
        await session.insert("inbound_events", event)
        await session.insert("customers", customer)
    assert await _due(store) == []  # `999-...` sorts after `2026-...`: never due

    assert await four_digit_years(store) == 1
    assert await _due(store) == ["evt_old"]
    async with store.session() as session:
        stored = await session.get("inbound_events", "evt_old")
        untouched = await session.get("customers", "cus_1")
    assert stored is not None
    assert (stored["received_at"], stored["version"]) == ("0999-12-31T23:59:59.000000Z", 5)
    assert untouched == customer  # a merchant's text that looks like a time stays as sent

    assert await four_digit_years(store) == 0  # idempotent
