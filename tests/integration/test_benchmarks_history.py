"""The history benchmark: a store written straight from the codecs is one the service reads, and
`--history` reports the figures on it beside the empty-store ones. Nothing here asserts speed."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from benchmarks.__main__ import main
from benchmarks.history import HISTORY_MERCHANTS, seed_history
from benchmarks.results import markdown
from domain.inbound.model import InboundStatus
from domain.notifications.model import DeliveryStatus
from integrations.stores.collection import DELIVERIES, INBOUND
from integrations.stores.repositories import StoreUnit
from integrations.stores.schema import COLLECTIONS
from integrations.stores.sqlite import SqliteStore
from integrations.stores.txn import StoreTxn

HISTORY = 240
HISTORY_FIGURES = {
    "history.seed",
    "history.ingest.empty",
    "history.ingest.full",
    "history.ingest.ratio",
    "history.delivery.empty",
    "history.delivery.full",
    "history.delivery.ratio",
}
TARGETED = {"history.seed", "history.ingest.ratio", "history.delivery.ratio"}


def rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql).fetchall()


async def test_the_history_is_a_store_the_service_reads(tmp_path: Path) -> None:
    # In a thread: the seeding runs its own event loop (to migrate) and process.
    seeded = await asyncio.to_thread(seed_history, tmp_path / "history" / "subgate.db", HISTORY)
    fresh = SqliteStore(tmp_path / "fresh" / "subgate.db")
    await fresh.migrate(COLLECTIONS)
    await fresh.close()

    path = tmp_path / "history" / "subgate.db"
    assert (seeded.events, seeded.deliveries) == (HISTORY, HISTORY)
    # The very indexes `migrate` makes, every one built and sound, and the journal the store needs.
    schema = "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name"
    assert rows(path, schema) == rows(tmp_path / "fresh" / "subgate.db", schema)
    assert rows(path, "PRAGMA integrity_check") == [("ok",)]
    assert rows(path, "PRAGMA journal_mode") == [("wal",)]
    counts = {
        table: rows(path, f'SELECT count(*) FROM "{table}"')[0][0]  # noqa: S608 - our table names
        for table in (
            "merchants",
            "connections",
            "endpoints",
            "inbound_events",
            "processed_inputs",
            "deliveries",
        )
    }
    assert counts == {
        "merchants": HISTORY_MERCHANTS,
        "connections": HISTORY_MERCHANTS,
        "endpoints": HISTORY_MERCHANTS,
        "inbound_events": HISTORY,
        "processed_inputs": HISTORY,
        "deliveries": HISTORY,
    }

    store = SqliteStore(path)
    try:
        async with store.session() as session:
            events = [INBOUND.from_doc(doc) for doc in await session.find(INBOUND.name, {}, limit=1000)]
            deliveries = [
                DELIVERIES.from_doc(doc) for doc in await session.find(DELIVERIES.name, {}, limit=1000)
            ]
        assert {event.status for event in events} <= {InboundStatus.APPLIED, InboundStatus.IGNORED}
        assert {delivery.status for delivery in deliveries} == {DeliveryStatus.SUCCEEDED}
        assert len({event.provider_event_id for event in events}) == HISTORY
        # Finished work: nothing of it is due for a worker, even a day from now.
        later = datetime.now(UTC) + timedelta(days=1)

        async def due(unit: StoreUnit) -> int:
            claimed = await unit.inbound_events.claim_due(later, later, "wrk_test", 100)
            return len(claimed) + len(await unit.deliveries.claim_due(later, later, "wrk_test", 100))

        assert await StoreTxn(store)(due) == 0
    finally:
        await store.close()


def test_history_reports_its_figures_beside_the_empty_store_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results_file = tmp_path / "results.json"
    tiny = ["--repeat", "1", "--events", "20", "--concurrency", "2", "--deliveries", "20"]

    assert main(["--only", "history", "--history", str(HISTORY), *tiny, "--json", str(results_file)]) == 0

    results: dict[str, Any] = json.loads(results_file.read_text())
    figures = {figure["key"]: figure for figure in results["figures"]}
    assert set(figures) == HISTORY_FIGURES
    for key, figure in figures.items():
        assert figure["median"] > 0, key
        assert (figure["target"] is not None) == (key in TARGETED), key
    assert figures["history.ingest.ratio"]["median"] == pytest.approx(
        figures["history.ingest.full"]["median"] / figures["history.ingest.empty"]["median"]
    )
    assert f"history {HISTORY:,} events and deliveries stored" in results["settings"]["sizes"]
    assert capsys.readouterr().out.strip() == markdown(results)
