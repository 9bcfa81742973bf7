"""`DocumentStore` on a single SQLite file, with group commit.

Layout: one table per collection, ``(id TEXT PRIMARY KEY, doc TEXT NOT NULL)``,
where ``doc`` is the whole document as JSON. Secondary indexes are expression
indexes over ``json_extract(doc, '$.field')``; queries are built from exactly
the same expressions, because SQLite only uses an expression index when the
query repeats the indexed expression.

Durability and speed: with ``synchronous = FULL`` every commit waits for an
fsync (about 2 ms here), which would cap the store at a few hundred
transactions a second if each session committed alone. Sessions therefore
share commits: each session runs inside a SAVEPOINT of one open write
transaction and, once its own work is released, waits for the next COMMIT.
That COMMIT (with its fsync) runs in a thread as soon as the connection is
free, covering every session that finished meanwhile. A session returns only
after its writes are durable; a session that raises rolls back to its own
savepoint and leaves the others' writes alone. If a COMMIT fails, every
session it covered fails with StorageError.

Statements run directly on the event loop: inside our own write transaction
they never wait for a lock and take microseconds, and reads in WAL mode never
block. Only what can wait (opening the file, a brief wait for another process's
write lock, COMMIT's fsync) runs in a worker thread. One asyncio lock hands the
connection to one session (or one commit) at a time.

Other processes (the admin CLI, a worker) share the file: a write transaction
starts with ``BEGIN IMMEDIATE``, so writers never fail to upgrade a read lock.
A write lock held elsewhere for longer than a brief wait does not stop this
process: the waiting sessions let go of the connection (reads go on) until a
watcher task gets the lock for them, and each fails with StorageError once its
busy timeout, counted from when it asked for the connection, is over (see
`SqliteStore.ensure_write_transaction`).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager, suppress
from pathlib import Path
from typing import Final, Unpack

import orjson

from integrations.stores.documents import (
    Document,
    DocumentSession,
    DuplicateDocument,
    Filter,
    FindOptions,
    IndexSpec,
    Scalar,
    StorageError,
    VersionMismatch,
    checked_name,
)
from integrations.stores.sqlite.sql import (
    compile_claim,
    compile_count,
    compile_delete,
    compile_find,
    compile_update,
    create_index,
    table_name,
)

__all__ = ["SqliteStore"]

_DEFAULT_BUSY_TIMEOUT_S: Final = 10.0
# Extended result codes of a uniqueness clash; other constraint failures
# (NOT NULL, CHECK) mean a bug in this module, not a duplicate document.
_UNIQUE_VIOLATIONS: Final = frozenset({"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"})


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


def _sort_key(value: object) -> tuple[int, str]:
    # Claimed order: nulls first, then by the value's text (times are fixed-width ISO strings).
    return (0, "") if value is None else (1, str(value))


_SAVEPOINT: Final = "subgate_session"
# How long a session waits for another process's write lock keeping the connection (other
# sessions queue behind it); a lock held longer makes it let go of the connection and wait.
_BRIEF_WAIT_S: Final = 0.25
# Then the pauses between attempts to take that lock (SQLite's own busy handler waits about
# as long), and every 50 ms while sessions wait for it.
_LOCK_POLL_DELAYS_S: Final = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05)
_WAL_SIZE_LIMIT: Final = 32 * 1024 * 1024
_INCREMENTAL_VACUUM: Final = 2  # `PRAGMA auto_vacuum` of a file made with incremental auto_vacuum
# Free pages one `reclaim` gives back, in one write transaction (about 8 MB of pages).
_RECLAIM_PAGES: Final = 2000


def _require_wal(row: object) -> None:
    if not isinstance(row, tuple) or str(row[0]).lower() != "wal":
        raise sqlite3.OperationalError(f"WAL mode refused (got {row!r})")


def _begin_waiting(conn: sqlite3.Connection, wait_ms: int, busy_timeout_ms: int) -> bool:
    """BEGIN IMMEDIATE, waiting up to `wait_ms` for another process's write lock; False when it
    is still held. All of it in the caller's thread (the statements must not interleave)."""
    conn.execute(f"PRAGMA busy_timeout = {wait_ms}")
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
            raise
        return False
    finally:
        conn.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
    return True


class _Opening:
    """One wait for another process's write lock: done once the watcher opened the write
    transaction, or found the store failing (`failure`)."""

    __slots__ = ("done", "failure")

    def __init__(self) -> None:
        self.done = asyncio.Event()
        self.failure: StorageError | None = None


class _SqliteSession:
    """The statements of one session; writes open the shared write transaction on first use."""

    def __init__(self, store: SqliteStore, conn: sqlite3.Connection, deadline: float) -> None:
        self._store = store
        self._conn = conn
        self._open = True
        self.savepoint = False
        # When (loop time) this session stops waiting for another process's write lock.
        self.deadline = deadline
        # Whether this session holds the store's asyncio lock (it lets go while it waits for
        # another process's write lock, see `SqliteStore.ensure_write_transaction`).
        self.holding = True

    def finish(self) -> None:
        self._open = False

    def _live(self) -> sqlite3.Connection:
        # A session leaked out of its `async with` would otherwise write into
        # whichever session happens to hold the connection next.
        if not self._open:
            raise RuntimeError("document session used after its transaction ended")
        return self._conn

    async def writable(self) -> sqlite3.Connection:
        conn = self._live()
        if not self.savepoint:
            await self._store.ensure_write_transaction(self)
            with _translated("savepoint"):
                conn.execute(f"SAVEPOINT {_SAVEPOINT}")
            self.savepoint = True
        return conn

    async def insert(self, collection: str, doc: Document) -> None:
        table = table_name(collection)
        doc_id = _document_id(doc)
        payload = _encode(doc)
        conn = await self.writable()
        with _translated("insert"):
            conn.execute(
                f"INSERT INTO {table} (id, doc) VALUES (?, ?)",  # noqa: S608 - table name validated
                (doc_id, payload),
            )

    async def get(self, collection: str, doc_id: str) -> Document | None:
        table = table_name(collection)
        conn = self._live()
        with _translated("get"):
            sql = f"SELECT doc FROM {table} WHERE id = ?"  # noqa: S608 - table name validated
            row = conn.execute(sql, (doc_id,)).fetchone()
        return None if row is None else _decode(row[0])

    async def find(
        self, collection: str, where: Filter, *, limit: int, **options: Unpack[FindOptions]
    ) -> list[Document]:
        sql, params = compile_find(collection, where, limit=limit, **options)
        conn = self._live()
        with _translated("find"):
            rows = conn.execute(sql, params).fetchall()
        return [_decode(row[0]) for row in rows]

    async def count(self, collection: str, where: Filter) -> int:
        sql, params = compile_count(collection, where)
        conn = self._live()
        with _translated("count"):
            (found,) = conn.execute(sql, params).fetchone()
        return int(found)

    async def replace(self, collection: str, doc: Document, expected_version: int) -> None:
        table = table_name(collection)
        doc_id = _document_id(doc)
        if doc.get("version") != expected_version + 1:
            raise ValueError(
                f"replacement must carry version {expected_version + 1}, got {doc.get('version')!r}"
            )
        payload = _encode(doc)
        conn = await self.writable()
        with _translated("replace"):
            changed = conn.execute(
                f"UPDATE {table} SET doc = ? WHERE id = ? AND json_extract(doc, '$.version') = ?",  # noqa: S608
                (payload, doc_id, expected_version),
            ).rowcount
        if changed == 0:
            raise VersionMismatch(f"{collection}/{doc_id}: stored version is not {expected_version}")

    async def claim(
        self, collection: str, where: Filter, *, order_by: str, limit: int, assign: Mapping[str, Scalar]
    ) -> list[Document]:
        sql, params = compile_claim(collection, where, order_by=order_by, limit=limit, assign=assign)
        # Inside our BEGIN IMMEDIATE transaction no other process can write between the
        # pick and the change, and the single statement leaves no gap in this one.
        conn = await self.writable()
        with _translated("claim"):
            rows = conn.execute(sql, params).fetchall()
        docs = [_decode(row[0]) for row in rows]
        return sorted(docs, key=lambda d: (_sort_key(d.get(order_by)), d["id"]))

    async def delete_where(self, collection: str, where: Filter, *, order_by: str = "id", limit: int) -> int:
        sql, params = compile_delete(collection, where, order_by=order_by, limit=limit)
        conn = await self.writable()
        with _translated("delete"):
            removed: int = conn.execute(sql, params).rowcount
        return removed

    async def update_where(self, collection: str, where: Filter, assign: Mapping[str, Scalar]) -> int:
        sql, params = compile_update(collection, where, assign)
        conn = await self.writable()
        with _translated("update"):
            changed: int = conn.execute(sql, params).rowcount
        return changed


def _retired_indexes(conn: sqlite3.Connection, collections: Mapping[str, Sequence[IndexSpec]]) -> list[str]:
    """DROP statements for the indexes of the declared tables that are declared no more (SQLite's
    own indexes, for primary keys, have no SQL and are never dropped)."""
    declared = {spec.name for specs in collections.values() for spec in specs}
    rows = conn.execute("SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
    return [
        f'DROP INDEX IF EXISTS "{checked_name(name, "index")}"'
        for name, table in rows.fetchall()
        if table in collections and name not in declared
    ]


class SqliteStore:
    """`DocumentStore` backed by the SQLite file at `path` (see the module docstring)."""

    def __init__(
        self,
        path: Path,
        *,
        busy_timeout_s: float = _DEFAULT_BUSY_TIMEOUT_S,
        trace: Callable[[str], None] | None = None,
    ) -> None:
        self._path = path
        self._busy_timeout_s = busy_timeout_s
        # Called with every statement the connection runs, its values inlined (for debugging,
        # and for the tests that check the query plan of each statement on a hot path).
        self._trace = trace
        self._conn: sqlite3.Connection | None = None
        self._closed = False
        self._lock = asyncio.Lock()
        # Sessions whose work sits in the open write transaction, waiting for its COMMIT.
        self._waiting: list[asyncio.Future[None]] = []
        self._committer: asyncio.Task[None] | None = None
        # While another process holds the write lock: how many sessions wait for it, the task
        # that tries to take it for them, and the event it sets (and replaces) once it has.
        self._lock_waiters = 0
        self._watcher: asyncio.Task[None] | None = None
        self._opening = _Opening()

    @property
    def path(self) -> Path:
        return self._path

    async def connect(self) -> None:
        """Open the connection now instead of on first use; idempotent."""
        async with self._lock:
            await self._connection()

    async def _connection(self) -> sqlite3.Connection:
        # Caller holds self._lock, so at most one open attempt runs at a time.
        if self._closed:
            raise StorageError(f"sqlite store {self._path} is closed")
        if self._conn is None:
            with _translated(f"open of {self._path}"):
                self._conn = await asyncio.to_thread(self._open)
        return self._conn

    def _open(self) -> sqlite3.Connection:
        # isolation_level=None: the sqlite3 module must not issue its own BEGINs.
        # check_same_thread=False: the asyncio lock, not the thread, guards the connection.
        conn = sqlite3.connect(
            self._path, timeout=self._busy_timeout_s, isolation_level=None, check_same_thread=False
        )
        conn.set_trace_callback(self._trace)
        try:
            # A new file keeps a map of its pages, so that the pages retention frees can be given
            # back to the file system (`reclaim`); an existing file keeps the mode it was made
            # with (only a VACUUM changes it). Either way freed pages are reused by later writes.
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
            # WAL lets readers (here and in other processes) carry on while one writer commits.
            _require_wal(conn.execute("PRAGMA journal_mode = WAL").fetchone())
            # FULL syncs the WAL on every commit: an acknowledged webhook must
            # survive a power cut, not only a process crash. Group commit pays for it.
            conn.execute("PRAGMA synchronous = FULL")
            # Freed content is overwritten, so a secret replaced by its sealed form (or a deleted
            # row) does not linger in the file's free space; some builds default to it, not all.
            conn.execute("PRAGMA secure_delete = ON")
            # The write-ahead log is reused from its start after each checkpoint, but keeps the
            # size of its largest transaction (a big purge) unless it is cut back to this.
            conn.execute(f"PRAGMA journal_size_limit = {_WAL_SIZE_LIMIT}")
        except BaseException:
            conn.close()
            raise
        return conn

    async def ensure_write_transaction(self, session: _SqliteSession) -> None:
        """Open the shared write transaction if none is open (`session` holds the lock).

        BEGIN IMMEDIATE without waiting: when no other process holds the write lock (the
        usual case) that takes microseconds. When another process holds it, it is most often
        done within milliseconds (its COMMIT's fsync): the session waits for it in a thread,
        keeping the connection, so that the sessions queued meanwhile join its transaction.
        A lock held longer than that (an outage, a long job elsewhere) must not stop this
        process: the session lets go of the connection, so that the other sessions carry on
        (reads never need that lock), and waits for one watcher task, which tries again now
        and then for all the waiting sessions, to open the transaction; then they join it
        and are committed together. Each gives up once its busy timeout, counted from when
        it asked for the connection, is over: sessions queued behind a locked file all fail
        within one busy timeout, not one after another.
        """
        loop = asyncio.get_running_loop()
        while True:
            conn = await self._connection()
            if conn.in_transaction:
                return
            # While sessions already wait for the lock, the watcher tries for all of them.
            if not self._lock_waiters:
                if await self._begin_now():
                    return
                brief = min(_BRIEF_WAIT_S, session.deadline - loop.time())
                if brief > 0 and await self._begin_within(conn, brief):
                    return
            left = session.deadline - loop.time()
            if left <= 0:
                raise StorageError("sqlite begin failed: database is locked")
            await self._await_write_lock(session, left)

    async def _begin_within(self, conn: sqlite3.Connection, seconds: float) -> bool:
        """BEGIN IMMEDIATE, waiting up to `seconds` for another process's lock (in a thread)."""
        waiting = asyncio.ensure_future(
            asyncio.to_thread(_begin_waiting, conn, int(seconds * 1000), int(self._busy_timeout_s * 1000))
        )
        with _translated("begin"):
            try:
                begun = await asyncio.shield(waiting)
            except asyncio.CancelledError:
                # The thread still uses the connection: it must be done before anyone else
                # does, and a transaction it opened must not stay open (holding the lock).
                if await waiting and (self._committer is None or self._committer.done()):
                    self._committer = asyncio.create_task(self._commit())
                raise
        if begun:
            self._wake_lock_waiters(None)
        return begun

    async def _begin_now(self) -> bool:
        """Whether the write transaction is open (now, or already); never waits for a lock."""
        conn = await self._connection()
        if conn.in_transaction:
            return True
        with _translated("begin"):
            conn.execute("PRAGMA busy_timeout = 0")
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
                    raise  # not a lock held elsewhere: the store is failing
                return False
            finally:
                conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_s * 1000)}")
        self._wake_lock_waiters(None)  # they join this transaction before it commits
        return True

    def _wake_lock_waiters(self, failure: StorageError | None) -> None:
        # Woken before anything else queues for the connection, since the lock hands itself
        # out in order: the waiting sessions get into the open transaction ahead of its COMMIT.
        opening, self._opening = self._opening, _Opening()
        opening.failure = failure
        opening.done.set()

    async def _await_write_lock(self, session: _SqliteSession, seconds: float) -> None:
        """Without the connection, wait up to `seconds` for the watcher to open the write
        transaction (or to find the store failing); then take the connection back."""
        opening = self._opening
        self._lock_waiters += 1
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.create_task(self._watch_write_lock())
        session.holding = False
        self._lock.release()
        try:
            with suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await opening.done.wait()
        finally:
            self._lock_waiters -= 1
        # Cancelled in either wait, the session unwinds without the lock (`holding` tells).
        await self._lock.acquire()
        session.holding = True
        if opening.failure is not None:
            raise StorageError(str(opening.failure))

    async def _watch_write_lock(self) -> None:
        """Try BEGIN IMMEDIATE now and then while sessions wait for another process's lock."""
        delays = iter(_LOCK_POLL_DELAYS_S)
        while self._lock_waiters:
            await asyncio.sleep(next(delays, _LOCK_POLL_DELAYS_S[-1]))
            async with self._lock:
                if not self._lock_waiters:
                    return
                try:
                    opened = await self._begin_now()
                except StorageError as failure:
                    self._wake_lock_waiters(failure)  # failing, not locked
                    return
                if opened:
                    # Nobody may come to write in it after all: its COMMIT is due anyway.
                    if self._committer is None or self._committer.done():
                        self._committer = asyncio.create_task(self._commit())
                    return

    @asynccontextmanager
    async def session(self) -> AsyncIterator[DocumentSession]:
        async with self._session() as session:
            yield session

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[_SqliteSession]:
        deadline = asyncio.get_running_loop().time() + self._busy_timeout_s
        await self._lock.acquire()
        session: _SqliteSession | None = None
        try:
            conn = await self._connection()
            session = _SqliteSession(self, conn, deadline)
            try:
                yield session
            except BaseException:
                if session.savepoint:
                    # Undo this session only; other sessions' work in the transaction stays.
                    with suppress(sqlite3.Error):
                        conn.execute(f"ROLLBACK TO {_SAVEPOINT}")
                        conn.execute(f"RELEASE {_SAVEPOINT}")
                raise
            finally:
                session.finish()
            if session.savepoint:
                with _translated("release"):
                    conn.execute(f"RELEASE {_SAVEPOINT}")
            # A session that wrote, or that may have read writes not yet committed, waits
            # for the COMMIT; one that only read committed data returns at once.
            committed: asyncio.Future[None] | None = None
            if conn.in_transaction:
                committed = asyncio.get_running_loop().create_future()
                self._waiting.append(committed)
                if self._committer is None or self._committer.done():
                    self._committer = asyncio.create_task(self._commit())
        finally:
            if session is None or session.holding:
                self._lock.release()
        if committed is not None:
            await committed

    async def _commit(self) -> None:
        """Commit whatever the sessions queued so far left in the transaction, for all of them."""
        async with self._lock:
            waiting, self._waiting = self._waiting, []
            conn = self._conn
            failure: StorageError | None = None
            if conn is not None and conn.in_transaction:
                try:
                    with _translated("commit"):
                        await asyncio.to_thread(conn.execute, "COMMIT")
                except StorageError as error:
                    failure = error
                    with suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
            for future in waiting:
                if future.done():
                    continue  # its session was cancelled while waiting
                if failure is None:
                    future.set_result(None)
                else:
                    future.set_exception(StorageError(str(failure)))

    async def _settle(self) -> None:
        """Wait until no COMMIT is pending (before DDL, or closing)."""
        while self._committer is not None and not self._committer.done():
            await self._committer

    async def migrate(self, collections: Mapping[str, Sequence[IndexSpec]]) -> None:
        statements: list[str] = []
        for collection, specs in collections.items():
            table = table_name(collection)
            statements.append(
                f"CREATE TABLE IF NOT EXISTS {table} (id TEXT PRIMARY KEY NOT NULL, doc TEXT NOT NULL)"
            )
            statements += [create_index(table, spec) for spec in specs]
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the directory for {self._path}: {exc}") from exc
        # DDL is transactional in SQLite: all of the migration commits, or none of it.
        async with self._session() as session:
            conn = await session.writable()
            with _translated("migrate"):
                statements += _retired_indexes(conn, collections)
            for statement in statements:
                with _translated("migrate"):
                    conn.execute(statement)

    async def reclaim(self, pages: int = _RECLAIM_PAGES) -> int:
        """Give up to `pages` free pages back to the file system, in one write transaction; how
        many (0 when none is free, or the file was made without incremental auto_vacuum).

        The file shrinks at the next checkpoint. `subgate purge` calls it after a purge; the
        service never does: at a steady rate of traffic the pages a purge frees are reused.
        """
        async with self._session() as session:
            conn = await session.writable()
            with _translated("reclaim"):
                (mode,) = conn.execute("PRAGMA auto_vacuum").fetchone()
                if mode != _INCREMENTAL_VACUUM:
                    return 0
                (free,) = conn.execute("PRAGMA freelist_count").fetchone()
                wanted = min(int(free), pages)
                # One page per statement: Python's sqlite3 steps a statement without result
                # columns once, so `incremental_vacuum(N)` would move a single page.
                for _ in range(wanted):
                    conn.execute("PRAGMA incremental_vacuum(1)")
        return wanted

    async def page_counts(self) -> tuple[int, int, int]:
        """(page size, pages in the file, free pages among them)."""
        async with self._lock:
            conn = await self._connection()
            with _translated("page counts"):
                (size,) = conn.execute("PRAGMA page_size").fetchone()
                (pages,) = conn.execute("PRAGMA page_count").fetchone()
                (free,) = conn.execute("PRAGMA freelist_count").fetchone()
        return int(size), int(pages), int(free)

    async def collections(self) -> frozenset[str]:
        async with self._lock:
            if self._conn is None and not await asyncio.to_thread(self._path.exists):
                return frozenset()  # asked without creating the file
            conn = await self._connection()
            with _translated("collections"):
                rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        return frozenset(str(row[0]) for row in rows)

    async def ping(self) -> None:
        async with self._lock:
            conn = await self._connection()
            with _translated("ping"):
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with suppress(asyncio.CancelledError):
                await self._watcher
        await self._settle()
        # Taking the lock lets a running session finish (and queue its commit) first.
        async with self._lock:
            self._closed = True
        await self._settle()
        async with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                with suppress(sqlite3.Error):
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                with _translated("close"):
                    conn.close()
