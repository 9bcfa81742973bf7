"""The SQLite store becomes unavailable under the running service; see
`test_store_outage_scenario` for what is checked before, during and after.

- Locked: another connection (an admin's shell, a backup tool) holds the write lock longer
  than the busy timeout (10 s).
- Unwritable: every write of the service's processes to a file fails, as on a full or read-only
  volume. The tests run as root, whom file permissions do not stop and who cannot remount here,
  so the kernel's per-process file-size limit (RLIMIT_FSIZE, lowered to one byte with prlimit)
  makes the refusal: the processes keep their open files, and each write fails with EFBIG,
  which SQLite reports as a disk I/O error. Their logs go through pipes, which the limit does not
  cover.
"""

from __future__ import annotations

import contextlib
import resource
import sqlite3
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.test_store_outage_scenario import (
    MIN_OUTAGE_S,
    QUICK_FAILURES_OUTAGE_S,
    STOP_DEADLINE_S,
    ride_out,
    service_env,
)
from tests.support.redis import CrashableRedis
from tests.support.service_processes import SubgateProcess

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="prlimit and SIGSTOP as Linux has them")

# The SQLite store waits this long for another connection's write lock (SqliteStore's default).
BUSY_TIMEOUT_S = 10.0


@dataclass
class SqliteOutage:
    path: Path
    reads_work: bool = True
    wait_s: float = 0.0
    lasts_s: float = MIN_OUTAGE_S

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=5, isolation_level=None)

    @contextlib.contextmanager
    def no_writer(self) -> Iterator[None]:
        with contextlib.closing(
            sqlite3.connect(self.path, timeout=STOP_DEADLINE_S, isolation_level=None)
        ) as holder:
            holder.execute("BEGIN IMMEDIATE")  # SQLite's busy handler waits out the writer of the moment
            try:
                yield
            finally:
                holder.execute("ROLLBACK")

    def provider_event_ids(self) -> set[str]:
        with contextlib.closing(self._connect()) as conn:
            rows = conn.execute("SELECT json_extract(doc, '$.provider_event_id') FROM inbound_events")
            return {str(row[0]) for row in rows}

    def heartbeats(self) -> dict[str, tuple[bool, str]]:
        with contextlib.closing(self._connect()) as conn:
            rows = conn.execute(
                "SELECT id, json_extract(doc, '$.alive'), json_extract(doc, '$.heartbeat_at') FROM workers"
            )
            return {str(row[0]): (bool(row[1]), str(row[2])) for row in rows}


@dataclass
class LockedSqlite(SqliteOutage):
    """Another connection (an admin's shell, a backup tool) holds the write lock."""

    wait_s: float = BUSY_TIMEOUT_S
    holder: sqlite3.Connection | None = None

    def begin(self, _processes: Sequence[SubgateProcess]) -> None:
        self.holder = self._connect()
        self.holder.execute("BEGIN IMMEDIATE")

    def end(self, _processes: Sequence[SubgateProcess]) -> None:
        assert self.holder is not None
        self.holder.execute("ROLLBACK")
        self.holder.close()
        self.holder = None


@dataclass
class UnwritableSqlite(SqliteOutage):
    """Every write of the service's processes to a file fails (see the module docstring)."""

    lasts_s: float = QUICK_FAILURES_OUTAGE_S

    def begin(self, processes: Sequence[SubgateProcess]) -> None:
        for one in processes:
            resource.prlimit(one.process.pid, resource.RLIMIT_FSIZE, (1, resource.RLIM_INFINITY))

    def end(self, processes: Sequence[SubgateProcess]) -> None:
        unlimited = (resource.RLIM_INFINITY, resource.RLIM_INFINITY)
        for one in processes:
            resource.prlimit(one.process.pid, resource.RLIMIT_FSIZE, unlimited)


async def test_sqlite_locked_beyond_the_busy_timeout(tmp_path: Path) -> None:
    with CrashableRedis(tmp_path / "redis") as redis_server:
        env = service_env(tmp_path, redis_server.url)
        outage = LockedSqlite(Path(env["SUBGATE_DATA_DIR"]) / "subgate.db")
        await ride_out(outage, env, tmp_path)


async def test_sqlite_unwritable(tmp_path: Path) -> None:
    with CrashableRedis(tmp_path / "redis") as redis_server:
        env = service_env(tmp_path, redis_server.url)
        outage = UnwritableSqlite(Path(env["SUBGATE_DATA_DIR"]) / "subgate.db")
        await ride_out(outage, env, tmp_path)
