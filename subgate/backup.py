"""Backups of a SQLite data directory: one archive file, taken while the service runs.

The archive (gzip-compressed tar, written 0600 and renamed into place whole) holds:

* `subgate.db`: a copy of the database made with SQLite's online backup API in one step, so
  it is one consistent snapshot (a read transaction) while the service goes on writing
  (WAL: readers and the writer do not block each other). The copy is checked
  (`PRAGMA integrity_check`) before it goes into the archive;
* `secret.key`: the data directory's generated key file, when it has one, so that the
  restored directory opens the secrets the database holds sealed. It travels as the data
  directory keeps it: beside the database, protected by the archive's mode (0600) and
  wherever the archive is kept. A passphrase would protect the key alone while the
  database's personal data sits beside it in clear, so the archive as a whole is what
  must be kept private;
* `initialized`: `subgate dev`'s first-start marker, when there is one;
* `manifest.json`: the format, when the copy was taken, the store's schema version, each
  member's SHA-256, and the ids of the keys that sealed the stored secrets, so a restore
  without the key file says exactly which `SUBGATE_SECRET_KEY` the directory needs.

A restore goes into an empty (or missing) data directory only: it is staged beside it,
checked (member names, checksums, integrity) and then renamed into place, so a restore
that fails leaves no half-restored directory behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from integrations.stores.sealing.keys import key_id, parse_keys
from subgate.commands.service import FIRST_START_MARKER
from subgate.keyfile import KEY_FILE_NAME, read_key_file, sync_directory
from subgate.settings import Settings

FORMAT: Final = "subgate-backup"
FORMAT_VERSION: Final = 1
MANIFEST: Final = "manifest.json"
DATABASE: Final = "subgate.db"
OPTIONAL: Final = (KEY_FILE_NAME, FIRST_START_MARKER)
_PRIVATE_FILE: Final = 0o600
_SEALED: Final = ("connections", "endpoints", "idempotency_keys")
_SQLITE: Final = "sqlite:///"
_CHUNK: Final = 1 << 20


class BackupRefused(Exception):
    """Nothing was written; the message says why and what to do instead."""


class BackupUnreadable(Exception):
    """The file is not a complete subgate backup; nothing was restored."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Manifest:
    taken_at: str
    schema_version: int | None
    members: dict[str, str]  # name -> SHA-256
    key_ids: tuple[str, ...]  # the keys that sealed the stored secrets

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "taken_at": self.taken_at,
                "schema_version": self.schema_version,
                "members": self.members,
                "key_ids": list(self.key_ids),
            },
            indent=2,
        ).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        try:
            data: dict[str, Any] = json.loads(raw)
            if data.get("format") != FORMAT or data.get("format_version") != FORMAT_VERSION:
                raise BackupUnreadable(f"not a {FORMAT} version {FORMAT_VERSION} archive")
            return cls(
                taken_at=str(data["taken_at"]),
                schema_version=data["schema_version"],
                members={str(k): str(v) for k, v in dict(data["members"]).items()},
                key_ids=tuple(str(k) for k in data["key_ids"]),
            )
        except (ValueError, KeyError, TypeError) as error:
            raise BackupUnreadable(f"its manifest cannot be read ({error})") from None


def database_path(settings: Settings) -> Path:
    if not settings.database_url.startswith(_SQLITE):
        raise BackupRefused(
            "backup and restore copy a SQLite store; for MongoDB use mongodump and mongorestore "
            "against the replica set (see the README's Backup and restore)"
        )
    return Path(settings.database_url.removeprefix(_SQLITE))


def take(settings: Settings, target: Path) -> Manifest:
    """Write the archive of the settings' data directory to `target` (which must not exist)."""
    source = database_path(settings)
    if target.exists():
        raise BackupRefused(f"{target} exists; choose another file name (a backup never overwrites one)")
    if not source.exists():
        raise BackupRefused(f"there is no database at {source} (SUBGATE_DATA_DIR / SUBGATE_DATABASE_URL)")
    with _scratch(target.parent) as scratch:
        copy = scratch / DATABASE
        _online_copy(source, copy)
        members = {DATABASE: copy}
        for name in OPTIONAL:
            if (settings.data_dir / name).is_file():
                members[name] = settings.data_dir / name
        manifest = Manifest(
            taken_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            schema_version=_schema_version(copy),
            members={name: _sha256(path) for name, path in members.items()},
            key_ids=_sealing_key_ids(copy),
        )
        draft = scratch / "archive"
        _write_archive(draft, manifest, members)
        os.replace(draft, target)
        sync_directory(target.parent)
    return manifest


def _online_copy(source: Path, copy: Path) -> None:
    """SQLite's backup API in one step: a consistent snapshot while writers go on."""
    src = sqlite3.connect(source, timeout=30)
    try:
        dst = sqlite3.connect(copy)
        try:
            src.backup(dst)
            # One self-contained file: no write-ahead log beside it (the store turns WAL on again).
            dst.execute("PRAGMA journal_mode = DELETE")
            (verdict,) = dst.execute("PRAGMA integrity_check").fetchone()
        finally:
            dst.close()
    finally:
        src.close()
    if verdict != "ok":
        raise BackupRefused(f"the copy of {source} failed SQLite's integrity check: {verdict}")


def _schema_version(database: Path) -> int | None:
    with contextlib.closing(sqlite3.connect(database)) as db:
        try:
            row = db.execute("SELECT json_extract(doc, '$.schema_version') FROM store_schema").fetchone()
        except sqlite3.OperationalError:
            return None  # a store from before versions
    return None if row is None or row[0] is None else int(row[0])


def _sealing_key_ids(database: Path) -> tuple[str, ...]:
    found: set[str] = set()
    with contextlib.closing(sqlite3.connect(database)) as db:
        for table in _SEALED:
            with contextlib.suppress(sqlite3.OperationalError):  # a table an older store lacks
                rows = db.execute(
                    f"SELECT DISTINCT json_extract(doc, '$.sealed_with') FROM {table}"  # noqa: S608 - fixed names
                ).fetchall()
                found.update(str(row[0]) for row in rows if row[0] is not None)
    return tuple(sorted(found))


def _write_archive(draft: Path, manifest: Manifest, members: dict[str, Path]) -> None:
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _PRIVATE_FILE)
    with os.fdopen(descriptor, "wb") as out:
        with tarfile.open(fileobj=out, mode="w:gz") as archive:
            _add_bytes(archive, MANIFEST, manifest.to_json())
            for name, path in members.items():
                info = archive.gettarinfo(str(path), arcname=name)
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                info.mode = _PRIVATE_FILE
                with path.open("rb") as content:
                    archive.addfile(info, content)
        out.flush()
        os.fsync(out.fileno())


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = _PRIVATE_FILE
    info.mtime = int(datetime.now(UTC).timestamp())
    archive.addfile(info, io.BytesIO(data))


@dataclass(frozen=True, slots=True, kw_only=True)
class Restored:
    manifest: Manifest
    data_dir: Path
    database: Path
    restored: tuple[str, ...]  # the members written


def restore(settings: Settings, archive: Path) -> Restored:
    """Restore `archive` into the settings' data directory, which must be empty or missing."""
    database = database_path(settings)
    data_dir = settings.data_dir
    _require_empty(data_dir, database)
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    with _scratch(data_dir.parent) as scratch:
        staged = scratch / "data"
        staged.mkdir()
        manifest, written = _unpack(archive, staged)
        _check_database(staged / DATABASE)
        inside = database.parent.resolve() == data_dir.resolve()
        if inside:
            (staged / DATABASE).rename(staged / database.name)
        with contextlib.suppress(FileNotFoundError):
            data_dir.rmdir()  # empty (checked above): the staged directory takes its place
        staged.rename(data_dir)
        if not inside:
            database.parent.mkdir(parents=True, exist_ok=True)
            (data_dir / DATABASE).rename(database)
        sync_directory(data_dir.parent)
    return Restored(manifest=manifest, data_dir=data_dir, database=database, restored=written)


def _require_empty(data_dir: Path, database: Path) -> None:
    if data_dir.exists():
        if not data_dir.is_dir():
            raise BackupRefused(f"{data_dir} is not a directory")
        entries = sorted(entry.name for entry in data_dir.iterdir())
        if entries:
            shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")  # noqa: PLR2004
            raise BackupRefused(
                f"the data directory {data_dir} is not empty ({len(entries)} entries: {shown}); restore "
                "into an empty or new one (set SUBGATE_DATA_DIR), never over a running service's"
            )
    if database.exists():
        raise BackupRefused(
            f"a database exists at {database} (SUBGATE_DATABASE_URL); restore needs none there"
        )


def _unpack(archive: Path, staged: Path) -> tuple[Manifest, tuple[str, ...]]:
    """Every member checked by name, kind and checksum, written 0600 into `staged`."""
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            contents: dict[str, bytes | Path] = {}
            for member in tar.getmembers():
                if not member.isfile() or member.name not in (MANIFEST, DATABASE, *OPTIONAL):
                    raise BackupUnreadable(f"unexpected member {member.name!r}")
                if member.name in contents:
                    raise BackupUnreadable(f"member {member.name!r} appears twice")
                contents[member.name] = _extract(tar, member, staged)
    except (OSError, tarfile.TarError, EOFError) as error:
        raise BackupUnreadable(f"{archive} cannot be read as a backup ({error})") from None
    raw = contents.pop(MANIFEST, None)
    if not isinstance(raw, bytes):
        raise BackupUnreadable("it has no manifest")
    manifest = Manifest.from_json(raw)
    if set(contents) != set(manifest.members) or DATABASE not in contents:
        raise BackupUnreadable(f"its members {sorted(contents)} are not those its manifest lists")
    for name, path in contents.items():
        assert isinstance(path, Path)  # noqa: S101 - only the manifest is kept in memory
        if _sha256(path) != manifest.members[name]:
            raise BackupUnreadable(f"{name} does not match its checksum: the archive is damaged")
    return manifest, tuple(sorted(contents))


def _extract(tar: tarfile.TarFile, member: tarfile.TarInfo, staged: Path) -> bytes | Path:
    source = tar.extractfile(member)
    if source is None:
        raise BackupUnreadable(f"member {member.name!r} has no content")
    if member.name == MANIFEST:
        return source.read()
    path = staged / member.name
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _PRIVATE_FILE)
    with os.fdopen(descriptor, "wb") as out:
        shutil.copyfileobj(source, out, _CHUNK)
        out.flush()
        os.fsync(out.fileno())
    return path


def _check_database(path: Path) -> None:
    try:
        with contextlib.closing(sqlite3.connect(path)) as db:
            (verdict,) = db.execute("PRAGMA integrity_check").fetchone()
    except sqlite3.DatabaseError as error:
        raise BackupUnreadable(f"its database cannot be opened ({error})") from None
    if verdict != "ok":
        raise BackupUnreadable(f"its database fails SQLite's integrity check: {verdict}")


def keys_missing(settings: Settings, restored: Restored) -> tuple[str, ...]:
    """The ids of the keys the restored secrets need that the restored directory cannot use."""
    available = {key_id(key) for key in settings.secret_keys}
    if not settings.secret_keys and (text := read_key_file(restored.data_dir / KEY_FILE_NAME)):
        available = {key_id(key) for key in parse_keys(text, KEY_FILE_NAME)}
    return tuple(k for k in restored.manifest.key_ids if k not in available)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as content:
        while chunk := content.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def _scratch(beside: Path) -> Iterator[Path]:
    """A private directory on the same file system as `beside` (renames into place are atomic)."""
    path = Path(tempfile.mkdtemp(prefix=".subgate-backup-", dir=beside))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
