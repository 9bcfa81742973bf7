"""Connections on every store: a secret rotation replaces the list; a deletion is final for reads."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from domain.merchants.model import Connection, Provider
from domain.shared.errors import NotFound
from integrations.stores.documents import DocumentStore
from integrations.stores.repositories import StoreUnit
from integrations.stores.txn import StoreTxn

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def connection(connection_id: str = "conn_1", merchant_id: str = "mer_1") -> Connection:
    return Connection(
        id=connection_id,
        merchant_id=merchant_id,
        provider=Provider.POLAR,
        webhook_secrets=("polar_whs_first_secret",),
        api_key=None,
        created_at=NOW,
    )


async def test_update_replaces_secrets_and_key(store: DocumentStore) -> None:
    txn = StoreTxn(store)
    original = connection()

    async def work(unit: StoreUnit) -> Connection | None:
        await unit.connections.add(original)
        await unit.connections.update(
            replace(original, webhook_secrets=("polar_whs_second", "polar_whs_third"), api_key="polar_oat_1")
        )
        return await unit.connections.get(original.id)

    stored = await txn(work)

    assert stored is not None
    assert stored.webhook_secrets == ("polar_whs_second", "polar_whs_third")
    assert stored.api_key == "polar_oat_1"
    assert (stored.merchant_id, stored.provider, stored.created_at) == ("mer_1", Provider.POLAR, NOW)


async def test_updating_a_missing_connection_is_not_found(store: DocumentStore) -> None:
    async def work(unit: StoreUnit) -> None:
        await unit.connections.update(connection("conn_nope"))

    with pytest.raises(NotFound):
        await StoreTxn(store)(work)


async def test_a_removed_connection_is_gone_for_every_read(store: DocumentStore) -> None:
    txn = StoreTxn(store)
    kept, removed = connection("conn_a"), connection("conn_b")

    async def setup(unit: StoreUnit) -> bool:
        await unit.connections.add(kept)
        await unit.connections.add(removed)
        return await unit.connections.remove(removed.id, NOW)

    assert await txn(setup)

    async def read(unit: StoreUnit) -> tuple[Connection | None, list[str], bool]:
        listed = [c.id for c in await unit.connections.list_for("mer_1")]
        return await unit.connections.get(removed.id), listed, await unit.connections.remove(removed.id, NOW)

    found, listed, removed_again = await txn(read)
    assert found is None
    assert listed == ["conn_a"]
    assert removed_again is False

    async def update_removed(unit: StoreUnit) -> None:
        await unit.connections.update(removed)

    with pytest.raises(NotFound):
        await txn(update_removed)
