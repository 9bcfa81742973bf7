"""`subgate backup FILE` and `subgate restore FILE` in-process, on SQLite data dirs of their own:
what the archive holds and how it is protected, that the restored directory runs on its own
(its merchant's key authenticates, its sealed secrets open), and every refusal changing nothing."""

from __future__ import annotations

import asyncio
import io
import json
import stat
import tarfile
from pathlib import Path

import pytest

from domain.merchants.external import MerchantsExternal, NewConnection
from domain.shared.clock import system_clock
from integrations.stores.migrations.steps import STEPS
from integrations.stores.sealing.keys import key_id, new_key
from integrations.stores.txn import StoreTxn
from subgate.cli import main
from subgate.commands.store import opened_store
from subgate.settings import load_settings

REFUSED, UNREADABLE = 2, 1
Capture = pytest.CaptureFixture[str]
SECRET = "whsec_backup_connection_secret"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _use(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    monkeypatch.setenv("SUBGATE_DATA_DIR", str(data_dir))
    monkeypatch.delenv("SUBGATE_DATABASE_URL", raising=False)


async def _connection_with_a_secret(merchant_id: str) -> str:
    async with opened_store(load_settings(dotenv=None)) as store:
        made = await MerchantsExternal(StoreTxn(store), system_clock).create_connection(
            merchant_id, NewConnection(provider="stripe", webhook_secrets=[SECRET])
        )
    return made.id


async def _read_back(api_key: str, connection_id: str) -> tuple[str, tuple[str, ...]]:
    """What the restored directory's own settings make of its store: the merchant, the secrets."""
    async with opened_store(load_settings(dotenv=None)) as store:
        merchants = MerchantsExternal(StoreTxn(store), system_clock)
        merchant = await merchants.authenticate(api_key)
        connection = await merchants.get_connection(merchant.id, connection_id)
    return merchant.id, tuple(connection.webhook_secrets)


@pytest.fixture
def source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> dict[str, str]:
    """A data dir with a merchant, the generated key file and a connection whose secret it sealed."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SUBGATE_SECRET_KEY", raising=False)
    data_dir = tmp_path / "source"
    _use(monkeypatch, data_dir)
    code, out, _ = _run(capsys, "merchants", "create", "Acme")
    assert code == 0
    created = json.loads(out)
    (data_dir / "secret.key").write_text(new_key() + "\n")
    connection_id = asyncio.run(_connection_with_a_secret(created["merchant_id"]))
    return {**created, "connection_id": connection_id, "data_dir": str(data_dir)}


def test_a_backup_restored_elsewhere_runs_on_its_own(
    source: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    archive = tmp_path / "backups" / "subgate.tgz"
    archive.parent.mkdir()
    code, out, _ = _run(capsys, "backup", str(archive))
    assert code == 0, out
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == ["manifest.json", "secret.key", "subgate.db"]
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert manifest["schema_version"] == STEPS[-1].number
    assert manifest["key_ids"] == [key_id((Path(source["data_dir"]) / "secret.key").read_text().strip())]
    assert [p.name for p in archive.parent.iterdir()] == ["subgate.tgz"]  # no scratch left behind

    restored = tmp_path / "elsewhere" / "data"
    _use(monkeypatch, restored)
    code, out, _ = _run(capsys, "restore", str(archive))
    assert code == 0, out
    assert "SUBGATE_SECRET_KEY" not in out  # nothing else is needed
    assert stat.S_IMODE(restored.stat().st_mode) == 0o700
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in restored.iterdir()} == {
        "subgate.db": 0o600,
        "secret.key": 0o600,
    }
    merchant_id, secrets = asyncio.run(_read_back(source["api_key"], source["connection_id"]))
    assert (merchant_id, secrets) == (source["merchant_id"], (SECRET,))


def test_restore_refuses_a_data_dir_that_is_not_empty_and_changes_nothing(
    source: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    archive = tmp_path / "b.tgz"
    assert _run(capsys, "backup", str(archive))[0] == 0
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("mine")
    _use(monkeypatch, occupied)
    code, _, err = _run(capsys, "restore", str(archive))
    assert code == REFUSED
    assert "not empty" in err
    assert "notes.txt" in err
    assert [p.name for p in occupied.iterdir()] == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no staging left

    _use(monkeypatch, Path(source["data_dir"]))  # the live one, above all
    assert _run(capsys, "restore", str(archive))[0] == REFUSED


def test_backup_never_overwrites_a_file_and_refuses_mongodb(
    source: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    del source
    existing = tmp_path / "existing.tgz"
    existing.write_bytes(b"an older backup")
    code, _, err = _run(capsys, "backup", str(existing))
    assert code == REFUSED
    assert "exists" in err
    assert existing.read_bytes() == b"an older backup"

    monkeypatch.setenv("SUBGATE_DATABASE_URL", "mongodb://127.0.0.1:1/subgate")
    code, _, err = _run(capsys, "backup", str(tmp_path / "mongo.tgz"))
    assert code == REFUSED
    assert "mongodump" in err
    assert not (tmp_path / "mongo.tgz").exists()


def _rewritten(archive: Path, target: Path, change: dict[str, bytes | None]) -> None:
    """A copy of `archive` with members replaced (bytes), removed (None) or added."""
    with tarfile.open(archive) as tar, tarfile.open(target, "w:gz") as out:
        names = tar.getnames()
        for name in [*names, *(n for n in change if n not in names)]:
            data = change.get(name, tar.extractfile(name).read() if name in names else None)  # type: ignore[union-attr]
            if data is None:
                continue
            info = tarfile.TarInfo(name)
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"subgate.db": b"SQLite format 3\x00 but damaged"}, id="damaged-database"),
        pytest.param({"secret.key": None}, id="member-missing"),
        pytest.param({"../escaped": b"outside"}, id="path-outside"),
        pytest.param({"manifest.json": b"{}"}, id="foreign-manifest"),
    ],
)
def test_an_archive_that_is_not_a_whole_backup_restores_nothing(
    source: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    change: dict[str, bytes | None],
) -> None:
    del source
    archive, bad = tmp_path / "good.tgz", tmp_path / "bad.tgz"
    assert _run(capsys, "backup", str(archive))[0] == 0
    _rewritten(archive, bad, change)
    target = tmp_path / "target" / "data"
    _use(monkeypatch, target)
    code, _, err = _run(capsys, "restore", str(bad))
    assert code == UNREADABLE
    assert "nothing was restored" in err
    assert not target.exists()
    assert not (tmp_path / "escaped").exists()
    assert not list((tmp_path / "target").iterdir())


def test_with_the_key_in_the_environment_the_restore_names_the_key_it_needs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    key = new_key()
    monkeypatch.setenv("SUBGATE_SECRET_KEY", key)
    _use(monkeypatch, tmp_path / "source")
    created = json.loads(_run(capsys, "merchants", "create", "Acme")[1])
    asyncio.run(_connection_with_a_secret(created["merchant_id"]))
    archive = tmp_path / "b.tgz"
    code, out, _ = _run(capsys, "backup", str(archive))
    assert code == 0
    assert key_id(key) in out  # the key is not in the backup: keep the setting with it

    monkeypatch.delenv("SUBGATE_SECRET_KEY")
    _use(monkeypatch, tmp_path / "without")
    code, out, _ = _run(capsys, "restore", str(archive))
    assert code == 0
    assert f"set SUBGATE_SECRET_KEY to include the key(s) with id(s) {key_id(key)}" in out

    monkeypatch.setenv("SUBGATE_SECRET_KEY", key)
    _use(monkeypatch, tmp_path / "with")
    code, out, _ = _run(capsys, "restore", str(archive))
    assert code == 0
    assert "SUBGATE_SECRET_KEY" not in out
