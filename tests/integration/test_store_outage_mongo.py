"""The MongoDB server stops under the running service and starts again; see
`test_store_outage_scenario` for what is checked before, during and after.

The server is a process of the test's own (the nx-27017 stand-in, on a file so that its data
outlives it), stopped and started again on the same port. Two workers run: the one that beats
first afterwards finds the other's heartbeat stale.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from tests.integration.test_store_outage_scenario import (
    MIN_OUTAGE_S,
    ride_out,
    service_env,
)
from tests.support.cli import free_port
from tests.support.mongo import collect_abandoned_sockets, launch_standin, terminate
from tests.support.redis import CrashableRedis
from tests.support.service_processes import SubgateProcess

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="SIGSTOP as Linux has it")

# MongoStore's server selection timeout: how long an operation waits for a server.
SERVER_SELECTION_S = 5.0


@dataclass
class StoppedMongo:
    """A MongoDB server process on a file, stopped and started again on the same port."""

    workdir: Path
    reads_work: bool = False
    wait_s: float = SERVER_SELECTION_S
    lasts_s: float = MIN_OUTAGE_S
    port: int = field(default_factory=free_port)
    server: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/outage?directConnection=true"

    def start(self) -> None:
        self.server, _ = launch_standin(self.workdir, self.port, db=str(self.workdir / "mongo.db"))

    def stop(self) -> None:
        server, self.server = self.server, None
        if server is not None:
            terminate(server)

    @contextmanager
    def _client(self, timeout_ms: int = 5000) -> Iterator[MongoClient[dict[str, Any]]]:
        client: MongoClient[dict[str, Any]] = MongoClient(self.url, serverSelectionTimeoutMS=timeout_ms)
        try:
            yield client
        finally:
            client.close()
            collect_abandoned_sockets()

    def begin(self, _processes: Sequence[SubgateProcess]) -> None:
        self.stop()

    def end(self, _processes: Sequence[SubgateProcess]) -> None:
        self.start()

    def no_writer(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()  # no lock outlives an operation on MongoDB

    def provider_event_ids(self) -> set[str]:
        with self._client() as client:
            return {str(doc["provider_event_id"]) for doc in client.outage.inbound_events.find()}

    def heartbeats(self) -> dict[str, tuple[bool, str]]:
        with self._client() as client:
            return {
                str(doc["_id"]): (bool(doc["alive"]), str(doc["heartbeat_at"]))
                for doc in client.outage.workers.find()
            }


async def test_mongodb_stopped_and_started_again(tmp_path: Path) -> None:
    outage = StoppedMongo(tmp_path)
    outage.start()
    try:
        with CrashableRedis(tmp_path / "redis") as redis_server:
            env = service_env(tmp_path, redis_server.url, SUBGATE_DATABASE_URL=outage.url)
            # Two workers: the one that beats first afterwards finds the other's heartbeat stale.
            await ride_out(outage, env, tmp_path, workers=2)
    finally:
        outage.stop()
