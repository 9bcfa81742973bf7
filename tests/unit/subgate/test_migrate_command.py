"""`subgate migrate [--check]` and the schema check every other command makes, on a SQLite
data dir of its own: exit statuses, what is said, and what is (not) changed."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from integrations.stores.migrations.steps import STEPS
from subgate.cli import main
from subgate.redis.embedded import serving_pid
from tests.support.cli import CliResult, free_port

CURRENT, NEEDS_MIGRATE, NEWER = 0, 3, 4

LATEST = STEPS[-1].number


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SUBGATE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("SUBGATE_DATABASE_URL", raising=False)
    return tmp_path / "data"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _subgate(command: str, env: dict[str, str], cwd: Path) -> CliResult:
    """The command in a process of its own (it would start a server if it did not refuse)."""
    argv = [sys.executable, "-m", "subgate", command]
    done = subprocess.run(argv, check=False, env=env, cwd=cwd, capture_output=True, text=True, timeout=60)
    return CliResult(done.returncode, done.stdout, done.stderr)


def _sql(data_dir: Path, statement: str) -> None:
    with sqlite3.connect(data_dir / "subgate.db") as db:
        db.execute(statement)


def _as_an_earlier_release_left_it(data_dir: Path) -> None:
    """Tables and documents, and no version recorded anywhere (what releases before versions wrote)."""
    _sql(data_dir, "DROP TABLE store_schema")


def test_check_of_a_new_data_dir_asks_for_migrate_and_creates_nothing(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, "migrate", "--check")
    assert code == NEEDS_MIGRATE
    assert "empty" in out
    assert "subgate migrate" in out
    assert not data_dir.exists()

    assert _run(capsys, "migrate") == (0, "migrated\n", f"schema version {LATEST} created\n")
    assert _run(capsys, "migrate", "--check")[:2] == (
        CURRENT,
        f"the store's schema is current (version {LATEST})\n",
    )
    assert _run(capsys, "migrate")[2] == f"schema version {LATEST} was already current\n"


def test_an_older_store_is_refused_by_every_command_but_migrate(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(capsys, "merchants", "create", "Before")[0] == 0
    _as_an_earlier_release_left_it(data_dir)

    code, out, _ = _run(capsys, "migrate", "--check")
    assert code == NEEDS_MIGRATE
    assert "version 0" in out
    assert "pending steps: 1 (" in out
    code, _, err = _run(capsys, "merchants", "create", "After")
    assert code == NEEDS_MIGRATE
    assert "run `subgate migrate`" in err
    assert _run(capsys, "dlq", "list")[0] == NEEDS_MIGRATE

    code, out, err = _run(capsys, "migrate")
    assert (code, out) == (0, "migrated\n")
    assert f"schema version 0 -> {LATEST}: ran step 1 (" in err
    assert _run(capsys, "migrate", "--check")[0] == CURRENT
    assert _run(capsys, "merchants", "create", "After")[0] == 0


def test_a_store_newer_than_this_release_is_refused_even_by_migrate(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(capsys, "migrate")[0] == 0
    _sql(data_dir, "UPDATE store_schema SET doc = json_set(doc, '$.schema_version', 99)")
    code, out, _ = _run(capsys, "migrate", "--check")
    assert code == NEWER
    assert "newer than this release" in out
    code, _, err = _run(capsys, "migrate")
    assert code == NEWER
    assert "version 99" in err


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_serve_and_worker_stop_on_an_older_store_naming_migrate(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "data"
    monkeypatch.setenv("SUBGATE_DATA_DIR", str(data_dir))
    monkeypatch.delenv("SUBGATE_DATABASE_URL", raising=False)
    assert _run(capsys, "merchants", "create", "Before")[0] == 0
    _as_an_earlier_release_left_it(data_dir)
    env = {**os.environ, "SUBGATE_DATA_DIR": str(data_dir), "SUBGATE_PORT": str(free_port())}
    env.pop("SUBGATE_REDIS_URL", None)
    result = _subgate(command, env, tmp_path)
    assert result.code == NEEDS_MIGRATE, result.stderr
    assert "run `subgate migrate`" in result.stderr
    assert serving_pid(data_dir / "redis") is None  # the Redis it started is released again

    _sql(data_dir, "CREATE TABLE store_schema (id TEXT PRIMARY KEY NOT NULL, doc TEXT NOT NULL)")
    newer = '{"id": "schema", "version": 1, "schema_version": 99, "lock_owner": null, "locked_until": null}'
    with sqlite3.connect(data_dir / "subgate.db") as db:
        db.execute("INSERT INTO store_schema VALUES ('schema', ?)", (newer,))
    result = _subgate(command, env, tmp_path)
    assert result.code == NEWER, result.stderr
    assert "newer than this release" in result.stderr
