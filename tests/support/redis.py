"""Redis for tests: an endpoint (external if configured, else embedded), a server a test can
crash and bring back, and clean-up for the shared embedded server of a data dir."""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Final, Self

from subgate.redis.embedded import EmbeddedRedis
from subgate.redis.shared import SharedRedis

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import TracebackType

__all__ = ["REDIS_URL_ENV", "CrashableRedis", "redis_server", "stopping_shared_redis"]

REDIS_URL_ENV: Final = "SUBGATE_TEST_REDIS_URL"


def redis_server() -> contextlib.AbstractContextManager[str]:
    """Provide a Redis URL for the duration of the ``with`` block."""
    return _redis_server()


@contextlib.contextmanager
def _redis_server() -> Iterator[str]:
    external = os.environ.get(REDIS_URL_ENV, "").strip()
    if external:
        yield external
        return
    # The server stops before the directory holding its AOF is removed,
    # because ``with`` unwinds its managers right to left.
    with (
        tempfile.TemporaryDirectory(prefix="subgate-redis-") as scratch,
        EmbeddedRedis(Path(scratch)) as server,
    ):
        yield server.url


class CrashableRedis:
    """A real redis-server the test controls: killed like a crash, started again on the same port.

    The data dir (and so the AOF) is kept across restarts, like a Redis that a
    process manager brings back.
    """

    def __init__(self, data_dir: Path) -> None:
        self._data_dir = data_dir
        self._port: int | None = None
        self._url: str | None = None
        self._server: EmbeddedRedis | None = None

    @property
    def url(self) -> str:
        """Its URL, password included; the same while it is down and after it comes back."""
        if self._url is None:
            raise RuntimeError("CrashableRedis has not been started")
        return self._url

    def start(self) -> str:
        """Start the server: on a free port the first time, on the same port afterwards."""
        if self._server is not None:
            raise RuntimeError("CrashableRedis is already running")
        server = EmbeddedRedis(self._data_dir, self._port)
        self._url = server.start()
        self._server, self._port = server, server.port
        return self._url

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush, every connection dropped at once."""
        server, self._server = self._server, None
        if server is None or server.pid is None:
            raise RuntimeError("CrashableRedis is not running")
        os.kill(server.pid, signal.SIGKILL)
        server.stop()  # reaps the killed process and removes its port file

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@contextlib.contextmanager
def stopping_shared_redis(data_dir: Path) -> Iterator[SharedRedis]:
    """Stop the data dir's shared embedded Redis on the way out, whoever started it.

    The server outlives the processes that use it when the last of them is
    killed, so a test that kills one must not rely on them to stop it.
    """
    shared = SharedRedis(data_dir)
    try:
        yield shared
    finally:
        shared.stop()
