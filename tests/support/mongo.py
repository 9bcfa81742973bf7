"""A MongoDB endpoint for tests, from the best source available on this machine.

Order of preference:

1. ``SUBGATE_TEST_MONGODB_URL`` - an externally managed server (CI, a developer's own).
2. A Docker engine - a real ``mongo`` image through testcontainers, as a single-node replica
   set (so that sessions are transactions, as in the compose stack).
3. The ``nx-27017`` stand-in (MongoDB wire protocol over SQLite) as a child process.

The stand-in is good enough for CRUD and unique indexes but not for every
server behaviour; tests that need the real thing carry the ``real_mongodb``
marker.
"""

from __future__ import annotations

import contextlib
import gc
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal
from urllib.parse import urlsplit, urlunsplit

import pytest
from pymongo import MongoClient
from pymongo.errors import PyMongoError

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "MONGODB_URL_ENV",
    "MongoTarget",
    "docker_engine_available",
    "launch_standin",
    "mongo_server",
    "terminate",
]

# The MongoDB database a test's stores open (set by the contract suite's `make_store`), for a test
# that reads that database beside the store.
MONGO_DATABASE = pytest.StashKey[str]()

MONGODB_URL_ENV: Final = "SUBGATE_TEST_MONGODB_URL"
_MONGO_IMAGE: Final = "mongo:7.0"
_MONGO_PORT: Final = 27017
_REPLICA_SET: Final = "rs0"
_CONTAINER_START_TIMEOUT_S: Final = 60.0
_STANDIN_EXECUTABLE: Final = "nx-27017"
_STANDIN_HOST: Final = "127.0.0.1"
_STANDIN_START_TIMEOUT_S: Final = 20.0
_STANDIN_STOP_TIMEOUT_S: Final = 10.0
_DOCKER_PROBE_TIMEOUT_S: Final = 5.0
_POLL_INTERVAL_S: Final = 0.05
_PING_TIMEOUT_MS: Final = 500
_LOG_TAIL_LINES: Final = 40


@dataclass(frozen=True, slots=True)
class MongoTarget:
    url: str
    kind: Literal["testcontainers", "external", "standin"]


def mongo_server() -> contextlib.AbstractContextManager[MongoTarget]:
    """Provide a reachable MongoDB for the duration of the ``with`` block."""
    return _mongo_server()


@contextlib.contextmanager
def _mongo_server() -> Iterator[MongoTarget]:
    external = os.environ.get(MONGODB_URL_ENV, "").strip()
    if external:
        yield MongoTarget(url=external, kind="external")
        return
    if docker_engine_available():
        with _container() as url:
            yield MongoTarget(url=url, kind="testcontainers")
        return
    with _standin() as url:
        yield MongoTarget(url=url, kind="standin")


def docker_engine_available() -> bool:
    """Whether a Docker engine answers, decided within a few seconds at most.

    Only the CLI is asked: it honours DOCKER_HOST and docker contexts the same
    way the user's shell does, and a missing CLI or engine fails in milliseconds.
    """
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        completed = subprocess.run(
            [docker, "info", "--format", "{{.ServerVersion}}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=_DOCKER_PROBE_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return completed.returncode == 0


@contextlib.contextmanager
def _container() -> Iterator[str]:
    """A real server as a single-node replica set, as the compose stack runs it.

    Only replica-set members run transactions, and on them the store's sessions are
    transactions: the `real_mongodb` tests (a failed session rolled back) need that. No
    credentials: a replica set with authentication also needs a key file.
    """
    # Imported here so machines without Docker never pay for (or trip over) the docker SDK.
    from testcontainers.core.container import DockerContainer  # noqa: PLC0415 - see the comment above
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy  # noqa: PLC0415 - as above

    container = (
        DockerContainer(_MONGO_IMAGE)
        .with_command(["--replSet", _REPLICA_SET, "--bind_ip_all"])
        .with_exposed_ports(_MONGO_PORT)
        .waiting_for(
            LogMessageWaitStrategy("Waiting for connections").with_startup_timeout(
                int(_CONTAINER_START_TIMEOUT_S)
            )
        )
    )
    with container:
        host, port = container.get_container_host_ip(), container.get_exposed_port(_MONGO_PORT)
        # Straight to this one member: the set names it by its address inside the container.
        url = f"mongodb://{host}:{port}/?directConnection=true"
        _initiate_replica_set(url)
        yield url


def _initiate_replica_set(url: str) -> None:
    members = [{"_id": 0, "host": f"localhost:{_MONGO_PORT}"}]
    client: MongoClient[dict[str, Any]] = MongoClient(
        url, serverSelectionTimeoutMS=int(_CONTAINER_START_TIMEOUT_S * 1000)
    )
    with client:
        client.admin.command("replSetInitiate", {"_id": _REPLICA_SET, "members": members})
        deadline = time.monotonic() + _CONTAINER_START_TIMEOUT_S
        while not client.admin.command("hello").get("isWritablePrimary"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the {_REPLICA_SET} replica set elected no primary")
            # Waiting on the server's election, which has no event to wait for.
            time.sleep(_POLL_INTERVAL_S)


def _find_standin_executable() -> Path:
    # The copy installed in the running interpreter's environment wins over
    # whatever else happens to be on PATH.
    beside_python = Path(sys.executable).parent / _STANDIN_EXECUTABLE
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return beside_python
    on_path = shutil.which(_STANDIN_EXECUTABLE)
    if on_path is not None:
        return Path(on_path)
    raise RuntimeError(
        f"no MongoDB available: {MONGODB_URL_ENV} is unset, no Docker engine answers, "
        f"and the {_STANDIN_EXECUTABLE} stand-in is not installed (uv sync --group dev)"
    )


@contextlib.contextmanager
def _standin() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="subgate-nx27017-") as scratch:
        process, url = launch_standin(Path(scratch), _pick_free_port())
        try:
            yield url
        finally:
            terminate(process)


def launch_standin(workdir: Path, port: int, db: str = "memory") -> tuple[subprocess.Popen[bytes], str]:
    """Start the stand-in on `port` (`db`: "memory" or a file, which outlives the process) and
    return it once it answers, with its URL. Its files are kept in `workdir`."""
    # Explicit pid/log paths matter: the defaults are shared files in /tmp,
    # and a pid file naming a live process makes a second server refuse to start.
    console_file = workdir / "console.log"
    command = [
        str(_find_standin_executable()),
        *("--db", db, "-p", str(port), "--host", _STANDIN_HOST),
        *("--log-file", str(workdir / "nx-27017.log"), "--pid-file", str(workdir / "nx-27017.pid")),
    ]
    # stdout/stderr go to a file: a pipe nobody drains would eventually
    # block the server, which logs every command it handles.
    with console_file.open("ab") as console:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=console,
            stderr=subprocess.STDOUT,
        )
    url = f"mongodb://{_STANDIN_HOST}:{port}/?directConnection=true"
    try:
        _wait_for_ping(process, url, console_file)
    except BaseException:
        terminate(process)
        raise
    return process, url


def _wait_for_ping(process: subprocess.Popen[bytes], url: str, console_file: Path) -> None:
    deadline = time.monotonic() + _STANDIN_START_TIMEOUT_S
    last_error = "no connection attempted"
    while True:
        exit_code = process.poll()
        if exit_code is not None:
            raise RuntimeError(
                f"{_STANDIN_EXECUTABLE} exited with code {exit_code} "
                "before answering ping\n"
                f"--- last lines of its output ---\n{_log_tail(console_file)}"
            )
        try:
            if _ping(url):
                return
        except PyMongoError as exc:
            last_error = f"{type(exc).__name__}: {exc}"
        if time.monotonic() >= deadline:
            raise RuntimeError(
                f"{_STANDIN_EXECUTABLE} did not answer ping at {url} within "
                f"{_STANDIN_START_TIMEOUT_S:g}s (last error: {last_error})\n"
                f"--- last lines of its output ---\n{_log_tail(console_file)}"
            )
        # Waiting on the child is the poll interval and spots an early exit at once.
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=_POLL_INTERVAL_S)


def _ping(url: str) -> bool:
    client: MongoClient[dict[str, object]] = MongoClient(
        url,
        serverSelectionTimeoutMS=_PING_TIMEOUT_MS,
        connectTimeoutMS=_PING_TIMEOUT_MS,
    )
    try:
        reply = client.admin.command("ping")
    finally:
        client.close()
        collect_abandoned_sockets()
    return bool(reply.get("ok"))


def terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=_STANDIN_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _pick_free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((_STANDIN_HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _log_tail(path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        return f"<could not read {path}: {exc}>"
    tail = lines[-_LOG_TAIL_LINES:]
    return "\n".join(tail) if tail else "<empty>"


def database_url(server_url: str, database: str) -> str:
    """`server_url` with its path replaced by `database`, credentials still working."""
    parts = urlsplit(server_url)
    query = parts.query
    has_credentials = "@" in parts.netloc
    if has_credentials and "authsource=" not in query.lower():
        # Credentials authenticate against the URL's database unless told
        # otherwise, and the fresh test database holds no users.
        auth_db = parts.path.strip("/") or "admin"
        query = f"{query}&authSource={auth_db}" if query else f"authSource={auth_db}"
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", query, parts.fragment))


def collect_abandoned_sockets() -> None:
    """Collect sockets a closed pymongo client left to the garbage collector.

    Closing a client stops its monitors; one caught mid-connect or mid-heartbeat drops its socket
    without closing it. Collected at some later moment, that socket's ResourceWarning would fail
    whichever test is running then (warnings are errors here); collected right after the close
    that caused it, it is expected and ignored.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
