"""`subgate status`: whether workers run, read from their heartbeats in the store."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from integrations.stores.leases import WorkerRegistry
from subgate.cli import main
from subgate.commands.store import opened_store
from subgate.settings import load_settings
from tests.support.fakes import FakeClock


@pytest.fixture
def database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SUBGATE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("SUBGATE_DATABASE_URL", raising=False)
    assert main(["migrate"]) == 0
    return f"sqlite:///{tmp_path / 'data' / 'subgate.db'}"


async def beat(database_url: str, owner: str, seconds_ago: float) -> None:
    clock = FakeClock(datetime.now(UTC) - timedelta(seconds=seconds_ago))
    async with opened_store(load_settings(dotenv=None)) as store:
        await WorkerRegistry(store, clock).beat(owner)


def status(capsys: pytest.CaptureFixture[str], *flags: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["status", *flags])
    return code, capsys.readouterr().out


def test_no_worker_is_exit_1_saying_so(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = status(capsys)

    assert code == 1
    assert out == "workers: 0 alive, 0 silent (no heartbeat) - no worker is processing events\n"


def test_a_worker_that_beats_is_alive(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    asyncio.run(beat(database_url, "wrk_running", seconds_ago=0.0))
    asyncio.run(beat(database_url, "wrk_killed", seconds_ago=60.0))

    code, out = status(capsys, "--json")

    assert code == 0
    workers = json.loads(out)["workers"]
    assert (workers["alive"], workers["silent"]) == (1, 1)
    assert workers["heartbeat_age_seconds"] >= 0.0


def test_a_worker_that_went_silent_is_not_alive(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(beat(database_url, "wrk_killed", seconds_ago=60.0))

    code, out = status(capsys)

    assert code == 1
    assert out.startswith("workers: 0 alive, 1 silent (newest heartbeat 6")
