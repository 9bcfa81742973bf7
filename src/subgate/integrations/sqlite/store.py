"""`DocumentStore` on a single SQLite file.

Layout: one table per collection, ``(id TEXT PRIMARY KEY, doc TEXT NOT NULL)``,
where ``doc`` is the whole document as JSON. Secondary indexes are expression
indexes over ``json_extract(doc, '$.field')``; queries are built from exactly
the same expressions, because SQLite only uses an expression index when the
query repeats the indexed expression.

Concurrency: the file is shared with other processes (the admin CLI, a
worker), so every transaction starts with ``BEGIN IMMEDIATE`` - taking the
write lock up front means two writers queue on ``busy_timeout`` instead of
both reading first and then failing to upgrade (which SQLite reports as an
immediate SQLITE_BUSY that no timeout can cure). Inside this process a single
connection is shared, so an asyncio lock hands it to one session at a time.

Lifecycle: the connection opens lazily on first use (``connect()`` opens it
eagerly, e.g. to fail fast at start-up); ``close()`` waits for the running
session, closes the connection, waits for aiosqlite's worker thread to
exit and is idempotent. A closed store stays closed.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager, suppress
from pathlib import Path
from typing import Final

import aiosqlite
import orjson

from subgate.integrations.storage.documents import (
    Condition,
    Document,
    DocumentSession,
    DuplicateDocument,
    Filter,
    Gt,
    In,
    IndexSpec,
    Lte,
    Scalar,
    StorageError,
    VersionMismatch,
)

__all__ = ["SqliteStore", "compile_find"]

_IDENTIFIER: Final = re.compile(r"[a-z_][a-z0-9_]*")
_DEFAULT_BUSY_TIMEOUT_S: Final = 10.0
# Extended result codes of a uniqueness clash; other constraint failures
# (NOT NULL, CHECK) mean a bug in this module, not a duplicate document.
_UNIQUE_VIOLATIONS: Final = frozenset({"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"})

SqlParam = str | int | float | None


def _identifier(name: str, what: str) -> str:
    # Names are interpolated into SQL (tables, indexes, JSON paths), so only a
    # boring, quote-free alphabet is accepted; values are always bound.
    if not isinstance(name, str) or _IDENTIFIER.fullmatch(name) is None:
        raise ValueError(f"invalid {what} name {name!r}: must match {_IDENTIFIER.pattern}")
    return name


def _table(collection: str) -> str:
    return f'"{_identifier(collection, "collection")}"'


def _field_expr(field: str) -> str:
    # `id` is the primary-key column itself, so filters, ordering and index
    # tails on it use the column rather than re-parsing the JSON.
    if _identifier(field, "field") == "id":
        return "id"
    return f"json_extract(doc, '$.{field}')"


def _param(value: Scalar) -> SqlParam:
    # json_extract yields 1/0 for JSON true/false; Python's sqlite3 binds a
    # bool as that integer too, but converting explicitly makes it visible.
    if isinstance(value, bool):
        return int(value)
    return value


def _condition_sql(field: str, condition: Condition, params: list[SqlParam]) -> str:
    expr = _field_expr(field)
    if isinstance(condition, In):
        present = [v for v in condition.values if v is not None]
        parts: list[str] = []
        if present:
            parts.append(f"{expr} IN ({', '.join('?' for _ in present)})")
            params.extend(_param(v) for v in present)
        if len(present) != len(condition.values):
            # SQL's IN never matches NULL; a None in the set means "missing or null".
            parts.append(f"{expr} IS NULL")
        if not parts:
            return "0"  # an empty set matches nothing
        return parts[0] if len(parts) == 1 else f"({' OR '.join(parts)})"
    if isinstance(condition, Lte | Gt):
        if condition.value is None:
            # Ordering against null differs between backends; refuse rather than diverge.
            raise ValueError(f"range condition on {field!r} needs a non-null value")
        params.append(_param(condition.value))
        return f"{expr} {'<=' if isinstance(condition, Lte) else '>'} ?"
    if condition is None:
        return f"{expr} IS NULL"
    params.append(_param(condition))
    return f"{expr} = ?"


def compile_find(
    collection: str,
    where: Filter,
    *,
    limit: int,
    after_id: str | None = None,
    order_by: str = "id",
) -> tuple[str, list[SqlParam]]:
    """The SELECT behind `DocumentSession.find` (public so tests can EXPLAIN it)."""
    if limit < 0:
        raise ValueError(f"limit must not be negative, got {limit}")
    table = _table(collection)
    params: list[SqlParam] = []
    clauses = [_condition_sql(field, condition, params) for field, condition in where.items()]
    if after_id is not None:
        clauses.append("id > ?")
        params.append(after_id)
    order_expr = _field_expr(order_by)
    order = "id" if order_expr == "id" else f"{order_expr}, id"
    where_sql = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    params.append(limit)
    # Only validated identifiers are interpolated; every value is a bound parameter.
    sql = f"SELECT doc FROM {table}{where_sql} ORDER BY {order} LIMIT ?"  # noqa: S608
    return sql, params


@contextmanager
def _translated(action: str) -> Iterator[None]:
    try:
        yield
    except sqlite3.IntegrityError as exc:
        if getattr(exc, "sqlite_errorname", "") in _UNIQUE_VIOLATIONS:
            raise DuplicateDocument(str(exc)) from exc
        raise StorageError(f"sqlite {action} failed: {exc}") from exc
    except sqlite3.Error as exc:
        # OperationalError covers "unable to open", disk I/O and "database is
        # locked" after busy_timeout ran out: all mean the write did not happen.
        raise StorageError(f"sqlite {action} failed: {exc}") from exc


def _encode(doc: Document) -> str:
    return orjson.dumps(doc).decode()


def _decode(raw: object) -> Document:
    if not isinstance(raw, str | bytes):
        raise StorageError(f"corrupt row: expected JSON text, got {type(raw).__name__}")
    decoded = orjson.loads(raw)
    if not isinstance(decoded, dict):
        raise StorageError(f"corrupt row: expected a JSON object, got {type(decoded).__name__}")
    return decoded


def _document_id(doc: Document) -> str:
    doc_id = doc.get("id")
    if not isinstance(doc_id, str) or not doc_id:
        raise ValueError(f"document needs a non-empty string 'id', got {doc_id!r}")
    return doc_id


async def _worker_stopped(conn: aiosqlite.Connection) -> None:
    """Return once the worker thread behind `conn` has exited.

    Each aiosqlite connection runs a thread that hands every result back with
    ``loop.call_soon_threadsafe``. When opening fails, aiosqlite (0.22) queues
    the thread's shutdown but does not wait for it, so the thread's last report
    can arrive after the caller's event loop has closed - pytest-asyncio closes
    a test's loop right after the test - and it then dies with "Event loop is
    closed", an unhandled thread exception that surfaces in some later test.
    Call this only once the shutdown is queued (a failed open, or `close()`):
    the join is then short, and nothing of the connection outlives the call.
    """
    # aiosqlite 0.22 keeps the thread in `_thread`; before that the connection was the thread.
    worker = getattr(conn, "_thread", conn)
    if isinstance(worker, threading.Thread) and worker.is_alive():
        await asyncio.to_thread(worker.join)


class _SqliteSession:
    """One `BEGIN IMMEDIATE` transaction on the shared connection."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        self._open = True

    def finish(self) -> None:
        self._open = False

    def _live(self) -> aiosqlite.Connection:
        # A session leaked out of its `async with` would otherwise write into
        # whichever transaction happens to hold the connection next.
        if not self._open:
            raise RuntimeError("document session used after its transaction ended")
        return self._conn

    async def insert(self, collection: str, doc: Document) -> None:
        table = _table(collection)
        doc_id = _document_id(doc)
        payload = _encode(doc)
        conn = self._live()
        with _translated("insert"):
            async with conn.execute(
                f"INSERT INTO {table} (id, doc) VALUES (?, ?)",  # noqa: S608 - table name validated
                (doc_id, payload),
            ):
                pass

    async def get(self, collection: str, doc_id: str) -> Document | None:
        table = _table(collection)
        conn = self._live()
        with _translated("get"):
            sql = f"SELECT doc FROM {table} WHERE id = ?"  # noqa: S608 - table name validated
            async with conn.execute(sql, (doc_id,)) as cursor:
                row = await cursor.fetchone()
        return None if row is None else _decode(row[0])

    async def find(
        self,
        collection: str,
        where: Filter,
        *,
        limit: int,
        after_id: str | None = None,
        order_by: str = "id",
    ) -> list[Document]:
        sql, params = compile_find(collection, where, limit=limit, after_id=after_id, order_by=order_by)
        conn = self._live()
        with _translated("find"):
            async with conn.execute(sql, params) as cursor:
                rows = await cursor.fetchall()
        return [_decode(row[0]) for row in rows]

    async def replace(self, collection: str, doc: Document, expected_version: int) -> None:
        table = _table(collection)
        doc_id = _document_id(doc)
        if doc.get("version") != expected_version + 1:
            raise ValueError(
                f"replacement must carry version {expected_version + 1}, got {doc.get('version')!r}"
            )
        payload = _encode(doc)
        conn = self._live()
        with _translated("replace"):
            async with conn.execute(
                f"UPDATE {table} SET doc = ? WHERE id = ? AND json_extract(doc, '$.version') = ?",  # noqa: S608
                (payload, doc_id, expected_version),
            ) as cursor:
                changed = cursor.rowcount
        if changed == 0:
            raise VersionMismatch(f"{collection}/{doc_id}: stored version is not {expected_version}")


class SqliteStore:
    """`DocumentStore` backed by the SQLite file at `path` (see the module docstring)."""

    def __init__(self, path: Path, *, busy_timeout_s: float = _DEFAULT_BUSY_TIMEOUT_S) -> None:
        self._path = path
        self._busy_timeout_s = busy_timeout_s
        self._conn: aiosqlite.Connection | None = None
        self._closed = False
        self._lock = asyncio.Lock()

    @property
    def path(self) -> Path:
        return self._path

    async def connect(self) -> None:
        """Open the connection now instead of on first use; idempotent."""
        async with self._lock:
            await self._connection()

    async def _connection(self) -> aiosqlite.Connection:
        # Caller holds self._lock, so at most one open attempt runs at a time.
        if self._closed:
            raise StorageError(f"sqlite store {self._path} is closed")
        if self._conn is not None:
            return self._conn
        # isolation_level=None: the sqlite3 module must not issue its own
        # deferred BEGINs; every transaction here is an explicit IMMEDIATE one.
        # `timeout` is SQLite's busy_timeout: how long to queue behind
        # another process's write lock before giving up.
        conn = aiosqlite.connect(self._path, timeout=self._busy_timeout_s, isolation_level=None)
        try:
            with _translated(f"open of {self._path}"):
                await conn
            await self._configure(conn)
        except BaseException:
            await self._shut(conn)
            raise
        self._conn = conn
        return conn

    @staticmethod
    async def _shut(conn: aiosqlite.Connection) -> None:
        # A connection that never opened is already stopping (`close()` is
        # then a no-op); either way the store waits for its thread to exit.
        try:
            await conn.close()
        finally:
            await _worker_stopped(conn)

    async def _configure(self, conn: aiosqlite.Connection) -> None:
        with _translated(f"setup of {self._path}"):
            # WAL lets readers in other processes carry on while one writer commits.
            async with conn.execute("PRAGMA journal_mode = WAL") as cursor:
                row = await cursor.fetchone()
            # FULL syncs the WAL on every commit: an acknowledged webhook
            # must survive a power cut, not only a process crash.
            async with conn.execute("PRAGMA synchronous = FULL"):
                pass
        if row is None or str(row[0]).lower() != "wal":
            raise StorageError(f"sqlite {self._path}: WAL mode refused (got {row!r})")

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            conn = await self._connection()
            if conn.in_transaction:
                # Only possible when a previous session was cancelled before its
                # rollback ran; starting fresh beats refusing every later session.
                with _translated("rollback of an abandoned transaction"):
                    await conn.rollback()
            with _translated("begin"):
                async with conn.execute("BEGIN IMMEDIATE"):
                    pass
            try:
                yield conn
            except BaseException:
                # The caller's exception matters more than a failed rollback; a
                # transaction left open is rolled back by the next session anyway.
                with suppress(sqlite3.Error):
                    await conn.rollback()
                raise
            try:
                with _translated("commit"):
                    await conn.commit()
            except StorageError:
                with suppress(sqlite3.Error):
                    await conn.rollback()
                raise

    @asynccontextmanager
    async def session(self) -> AsyncIterator[DocumentSession]:
        async with self._transaction() as conn:
            session = _SqliteSession(conn)
            try:
                yield session
            finally:
                session.finish()

    async def migrate(self, collections: Mapping[str, Sequence[IndexSpec]]) -> None:
        statements: list[str] = []
        for collection, specs in collections.items():
            table = _table(collection)
            statements.append(
                f"CREATE TABLE IF NOT EXISTS {table} (id TEXT PRIMARY KEY NOT NULL, doc TEXT NOT NULL)"
            )
            for spec in specs:
                name = _identifier(spec.name, "index")
                if not spec.fields:
                    raise ValueError(f"index {name!r} has no fields")
                unique = "UNIQUE " if spec.unique else ""
                columns = ", ".join(_field_expr(field) for field in spec.fields)
                statements.append(f'CREATE {unique}INDEX IF NOT EXISTS "{name}" ON {table} ({columns})')
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the directory for {self._path}: {exc}") from exc
        # DDL is transactional in SQLite: a half-applied migration rolls back.
        async with self._transaction() as conn:
            for statement in statements:
                with _translated("migrate"):
                    async with conn.execute(statement):
                        pass

    async def ping(self) -> None:
        async with self._lock:
            conn = await self._connection()
            with _translated("ping"):
                async with conn.execute("SELECT count(*) FROM sqlite_master") as cursor:
                    await cursor.fetchone()

    async def close(self) -> None:
        # Taking the lock lets a running session finish (commit or roll back) first.
        async with self._lock:
            self._closed = True
            conn, self._conn = self._conn, None
            if conn is not None:
                with _translated("close"):
                    await self._shut(conn)
