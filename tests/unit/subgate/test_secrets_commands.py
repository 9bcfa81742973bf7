"""`subgate secrets new-key | status | reencrypt`, in-process on a SQLite data dir of their own."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from domain.merchants.model import Connection, Provider
from integrations.stores.repositories import StoreUnit
from integrations.stores.sealing.keys import is_key, key_id, new_key
from integrations.stores.txn import StoreTxn
from subgate.cli import main
from subgate.commands.store import opened_store
from subgate.settings import load_settings

OLD_KEY, NEW_KEY = new_key(), new_key()
SECRET = "whsec_cli_secret_Tq4mZ8"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SUBGATE_DATA_DIR", str(tmp_path / "data"))
    for inherited in ("SUBGATE_DATABASE_URL", "SUBGATE_SECRET_KEY"):
        monkeypatch.delenv(inherited, raising=False)
    return tmp_path / "data"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def add_connections(count: int, first: int = 0) -> None:
    """Connections written as a command would, with the keys the environment gives."""
    connections = [
        Connection(
            id=f"conn_{n}",
            merchant_id="mer_1",
            provider=Provider.STRIPE,
            webhook_secrets=(SECRET,),
            api_key=None,
            created_at=datetime(2025, 1, 1, tzinfo=UTC),
        )
        for n in range(first, first + count)
    ]

    async def work(unit: StoreUnit) -> None:
        for connection in connections:
            await unit.connections.add(connection)

    async with opened_store(load_settings(dotenv=None), create=True) as store:
        await StoreTxn(store)(work)


def sealed_with(data_dir: Path) -> list[str | None]:
    """Straight from the SQLite file: which key sealed each connection."""
    with sqlite3.connect(data_dir / "subgate.db") as db:
        rows = db.execute("SELECT json_extract(doc, '$.sealed_with') FROM connections ORDER BY id").fetchall()
    return [row[0] for row in rows]


def test_new_key_prints_a_fresh_key_each_time(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = run(capsys, "secrets", "new-key")
    second = run(capsys, "secrets", "new-key")

    assert first[0] == second[0] == 0
    assert is_key(first[1].strip())
    assert is_key(second[1].strip())
    assert first[1] != second[1]


def test_reencrypt_reseals_everything_with_the_first_key(
    data_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    asyncio.run(add_connections(2))  # no key yet: kept in clear
    monkeypatch.setenv("SUBGATE_SECRET_KEY", OLD_KEY)
    asyncio.run(add_connections(1, first=2))
    monkeypatch.setenv("SUBGATE_SECRET_KEY", f"{NEW_KEY},{OLD_KEY}")

    code, out, _ = run(capsys, "secrets", "reencrypt")

    assert code == 0
    assert json.loads(out) == {"resealed": 3}
    assert sealed_with(data_dir) == [key_id(NEW_KEY)] * 3
    code, out, _ = run(capsys, "secrets", "status")
    assert code == 0
    report = json.loads(out)
    assert report["key"] == key_id(NEW_KEY)
    assert report["collections"]["connections"] == {"current": 3, "older": 0, "clear": 0, "unreadable": 0}
    assert SECRET.encode() not in (data_dir / "subgate.db").read_bytes()


def test_status_counts_what_the_worker_still_has_to_reseal(
    data_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    asyncio.run(add_connections(1))
    monkeypatch.setenv("SUBGATE_SECRET_KEY", OLD_KEY)
    asyncio.run(add_connections(2, first=1))
    monkeypatch.setenv("SUBGATE_SECRET_KEY", f"{NEW_KEY},{OLD_KEY}")
    asyncio.run(add_connections(3, first=3))

    code, out, _ = run(capsys, "secrets", "status")

    assert code == 0
    counts = {"current": 3, "older": 2, "clear": 1, "unreadable": 0}
    assert json.loads(out)["collections"]["connections"] == counts
    monkeypatch.setenv("SUBGATE_SECRET_KEY", NEW_KEY)
    code, out, _ = run(capsys, "secrets", "status")
    assert json.loads(out)["collections"]["connections"] == {**counts, "older": 0, "unreadable": 2}


def test_reencrypt_without_any_key_says_so(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "secrets", "reencrypt")

    assert code == 2
    assert out == ""
    assert "SUBGATE_SECRET_KEY is unset" in err


def test_reencrypt_refuses_secrets_no_listed_key_opens_naming_the_setting(
    data_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUBGATE_SECRET_KEY", OLD_KEY)
    asyncio.run(add_connections(2))
    monkeypatch.setenv("SUBGATE_SECRET_KEY", NEW_KEY)

    code, out, err = run(capsys, "secrets", "reencrypt")

    assert code == 1
    assert out == ""
    assert err.startswith("subgate: SUBGATE_SECRET_KEY: 2 document(s) of connections")
    assert key_id(OLD_KEY) in err
    assert OLD_KEY not in err
    assert sealed_with(data_dir) == [key_id(OLD_KEY)] * 2  # left as they were
