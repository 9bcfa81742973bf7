"""One embedded Redis per data directory, shared by every subgate process that uses it.

Without ``SUBGATE_REDIS_URL``, ``subgate serve``, ``subgate worker`` and
``subgate dev`` started on one data directory all use the same ``redis-server``
(see :mod:`subgate.redis.embedded`), and it belongs to none of them:

* It runs detached (:func:`subgate.redis.processes.spawn_detached`): not a
  child of any of them, in a session of its own, without a parent-death signal.
  The process that happened to start it may exit, or be killed, and the server
  stays up for the others.
* Whoever needs it first starts it while holding an exclusive ``flock`` on
  ``redis.lock`` in the directory, so two starters never race. The others find
  it through ``redis.port`` and accept it only if the server answering there
  keeps its files in this directory (``CONFIG GET dir``).
* Every process runs a :class:`Watchdog` thread that pings the server every
  second. When it stops answering, the watchdog starts it again under the same
  lock and on the same port, so the connection pools already pointing at it
  reconnect on their own; the AOF brings back what it held.
* The server requires the password kept in ``redis.password`` (0600), made by the
  first start under that lock; every process reads it and connects with it. A server
  left running without one by an earlier release is stopped and started again with it,
  on the same port, keeping its AOF.
* Every process holds a shared ``flock`` on ``redis.users`` while it uses the
  server; the kernel drops it when the process ends, however it ends. A process
  leaving cleanly that can turn its lock into an exclusive one is the last user
  and stops the server (gracefully: Redis flushes its AOF). A server whose last
  user was killed keeps running until the next process on the directory adopts
  it and leaves in turn; :meth:`SharedRedis.stop` stops it on demand.
"""

from __future__ import annotations

import contextlib
import fcntl
import threading
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Final
from urllib.parse import urlsplit

import structlog
from redis.exceptions import RedisError

from subgate.redis.embedded import HOST, PORT_FILE_NAME, EmbeddedRedis, local_client, serving_pid
from subgate.redis.password import read_password
from subgate.redis.processes import Running, terminate_pid
from subgate.redis.url import redacted, url_with_password

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "LOCK_FILE_NAME",
    "USERS_FILE_NAME",
    "SharedRedis",
    "Watchdog",
    "shared_redis",
]

LOCK_FILE_NAME: Final = "redis.lock"
USERS_FILE_NAME: Final = "redis.users"

WATCH_INTERVAL_S: Final = 1.0
_START_TIMEOUT_S: Final = 15.0
_PING_TIMEOUT_S: Final = 1.0
_POLL_INTERVAL_S: Final = 0.05

log = structlog.get_logger()


class SharedRedis:
    """The detached server of one data directory, as seen from one process."""

    def __init__(self, data_dir: Path, *, start_timeout: float = _START_TIMEOUT_S) -> None:
        self._data_dir = data_dir.expanduser().resolve()
        self._start_timeout = start_timeout
        self._users: IO[bytes] | None = None

    @property
    def data_dir(self) -> Path:
        return self._data_dir

    def url(self) -> str | None:
        """The URL of this directory's server if it answers right now (it holds the password)."""
        port = _read_port(self._data_dir)
        return self._url(port) if port is not None and self.answers(port) else None

    def answers(self, port: int) -> bool:
        """True when a Redis on ``port`` takes this directory's password, answers PING and keeps
        its files in this directory."""
        password = read_password(self._data_dir)
        return password is not None and self._serves_here(port, password)

    def ensure(self, port: int | None = None) -> str:
        """The URL of this directory's server, started (detached) if it does not answer.

        With ``port`` the server must listen there, because connection pools
        already point at it; without, the port it last had is preferred and a
        free one is taken if that is busy.
        """
        wanted = port if port is not None else _read_port(self._data_dir)
        if wanted is not None and self.answers(wanted):
            return self._url(wanted)
        self._data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        with _locked(self._data_dir / LOCK_FILE_NAME):
            return self._ensure_locked(port)

    def stop(self) -> bool:
        """Stop this directory's server, whoever started it; False when none was running."""
        if not self._data_dir.is_dir():
            return False
        with _locked(self._data_dir / LOCK_FILE_NAME):
            return self._stop_locked()

    def join(self) -> None:
        """Count this process among the server's users until :meth:`leave` (or its death)."""
        if self._users is not None:
            return
        self._data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        users = (self._data_dir / USERS_FILE_NAME).open("ab")
        try:
            fcntl.flock(users.fileno(), fcntl.LOCK_SH)
        except BaseException:
            users.close()
            raise
        self._users = users

    def leave(self) -> bool:
        """Stop counting this process; the last user stops the server. True if it did."""
        users, self._users = self._users, None
        if users is None:
            return False
        try:
            if not self._data_dir.is_dir():
                return False  # removed under us: nothing left to find the server by
            with _locked(self._data_dir / LOCK_FILE_NAME):
                try:
                    # Only possible when no other process holds its shared lock.
                    fcntl.flock(users.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return False
                return self._stop_locked()
        finally:
            users.close()

    # -- internals ----------------------------------------------------------

    def _serves_here(self, port: int, password: str | None) -> bool:
        try:
            with local_client(port, password, _PING_TIMEOUT_S) as client:
                client.ping()
                # The sync client's annotations also admit an awaitable; narrow to what it returns.
                config: object = client.config_get("dir")
        except (RedisError, OSError):
            return False
        served = config.get("dir") if isinstance(config, dict) else None
        if isinstance(served, bytes):
            served = served.decode(errors="replace")
        return served == str(self._data_dir)

    def _ensure_locked(self, port: int | None) -> str:
        recorded = _read_port(self._data_dir)
        wanted = port if port is not None else recorded
        if wanted is not None and self.answers(wanted):
            return self._url(wanted)  # another process started it while this one waited for the lock
        live = serving_pid(self._data_dir)
        if live is not None and recorded is not None and self._serves_here(recorded, None):
            # An earlier release started it without a password: anyone on the host could queue jobs.
            log.warning("embedded_redis_without_password", pid=live, data_dir=str(self._data_dir))
            terminate_pid(live)
        elif live is not None:
            # Alive but silent: still loading its AOF, overloaded, or hung.
            if recorded is not None and self._answers_within(recorded):
                if port is None or port == recorded:
                    return self._url(recorded)
                raise RuntimeError(
                    f"the embedded Redis of {self._data_dir} now listens on port {recorded}, "
                    f"not {port}; restart this process to follow it"
                )
            log.warning("embedded_redis_hung", pid=live, data_dir=str(self._data_dir))
            terminate_pid(live)
        preferred = port if port is not None else recorded
        if preferred is not None:
            try:
                return self._start(preferred)
            except RuntimeError:
                if port is not None:
                    raise
                # Nobody is bound to the old port yet, so a new one will do.
        return self._start(None)

    def _start(self, port: int | None) -> str:
        server = EmbeddedRedis(self._data_dir, port, start_timeout=self._start_timeout, detached=True)
        url = server.start()
        # The URL holds the password: only its redacted form is ever logged.
        log.info("embedded_redis_started", url=redacted(url), pid=server.pid, data_dir=str(self._data_dir))
        return url

    def _url(self, port: int) -> str:
        password = read_password(self._data_dir)
        if password is None:
            raise RuntimeError(f"the embedded Redis password of {self._data_dir} is missing")
        return url_with_password(HOST, port, password)

    def _stop_locked(self) -> bool:
        pid = serving_pid(self._data_dir)
        if pid is None:
            return False
        terminate_pid(pid)
        (self._data_dir / PORT_FILE_NAME).unlink(missing_ok=True)
        return True

    def _answers_within(self, port: int) -> bool:
        deadline = time.monotonic() + self._start_timeout
        while not self.answers(port):
            if time.monotonic() >= deadline:
                return False
            time.sleep(_POLL_INTERVAL_S)  # not our child: there is nothing to wait() on
        return True


class Watchdog(Running):
    """A thread that pings the shared server and starts it again when it stops answering."""

    def __init__(self, shared: SharedRedis, port: int, *, interval: float = WATCH_INTERVAL_S) -> None:
        self._shared = shared
        self._port = port
        self._interval = interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="embedded-redis-watchdog", daemon=True)

    def check(self) -> bool:
        """One round: True when the server answered, or answers again after a restart."""
        if self._shared.answers(self._port):
            return True
        where = {"port": self._port, "data_dir": str(self._shared.data_dir)}
        log.warning("embedded_redis_unreachable", **where)
        try:
            self._shared.ensure(self._port)
        except (RuntimeError, OSError, RedisError) as error:
            log.warning("embedded_redis_restart_failed", **where, error=str(error))
            return False
        log.info("embedded_redis_available", **where)
        return True

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            # A restart in progress is bounded by the start timeout; let it finish.
            self._thread.join()

    def _watch(self) -> None:
        while not self._stopped.wait(self._interval):
            try:
                self.check()
            except Exception:  # the watchdog must outlive any one failure; it is logged with its traceback
                log.exception("embedded_redis_watchdog_failed", port=self._port)


@contextlib.contextmanager
def shared_redis(data_dir: Path, *, interval: float = WATCH_INTERVAL_S) -> Iterator[str]:
    """Use the directory's shared server for the ``with`` block: its URL, kept up by a watchdog."""
    shared = SharedRedis(data_dir)
    shared.join()
    try:
        url = shared.ensure()
        port = urlsplit(url).port
        if port is None:
            raise AssertionError(f"an embedded Redis URL always names its port: {url}")
        with Watchdog(shared, port, interval=interval):
            yield url
    finally:
        shared.leave()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing) for the ``with`` block."""
    # "a": create the file if needed, never truncate it; its content is irrelevant.
    with path.open("ab") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        yield  # closing the file releases the lock


def _read_port(data_dir: Path) -> int | None:
    try:
        return int((data_dir / PORT_FILE_NAME).read_text().strip())
    except (OSError, ValueError):
        return None
