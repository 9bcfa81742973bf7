"""A Redis endpoint for tests: an external one if configured, else an embedded one."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Final

from integrations.redis.embedded import EmbeddedRedis

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["REDIS_URL_ENV", "redis_server"]

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
