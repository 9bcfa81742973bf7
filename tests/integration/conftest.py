"""Integration fixtures: a real store (SQLite file or MongoDB), a real Redis, the real app and worker."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway.app import create_app
from integrations.telemetry.tracing import Telemetry
from subgate.bootstrap import Deps, build, migrate
from subgate.settings import load_settings
from tests.support.mongo import MongoTarget, collect_abandoned_sockets, database_url, mongo_server
from tests.support.redis import redis_server
from tests.support.work import run_until_idle
from workers.pipeline import Pipeline


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


class OffsetClock:
    """Real time plus an adjustable offset: lets a test jump ahead while Redis keeps real time.

    `stop` makes time stand still (it moves only by `offset`), for a test that counts what
    happens at given times: a retry due a second later must not come due because a pass of the
    worker took that long on a busy machine.
    """

    def __init__(self) -> None:
        self.offset = timedelta(0)
        self._stopped_at: datetime | None = None

    def stop(self) -> None:
        self._stopped_at = datetime.now(UTC)

    def __call__(self) -> datetime:
        return (self._stopped_at or datetime.now(UTC)) + self.offset


@dataclass
class Service:
    deps: Deps
    clock: OffsetClock
    client: httpx.AsyncClient
    spans: InMemorySpanExporter
    api_key: str
    data_dir: Path

    @property
    def auth(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.api_key}"}

    async def run_worker(self, owner: str = "test-worker") -> int:
        """Run the worker's loops until nothing is due (burst mode); returns the items handled."""
        return await run_until_idle(Pipeline(self.deps.worker, owner))


@pytest.fixture(scope="session")
def mongo_target() -> Iterator[MongoTarget]:
    with mongo_server() as target:
        yield target


@pytest.fixture(params=["sqlite", "mongo"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same pipeline runs on both stores; each test gets a fresh database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'subgate.db'}"
    target: MongoTarget = request.getfixturevalue("mongo_target")
    return database_url(target.url, f"pipeline_{uuid.uuid4().hex[:12]}")


@pytest.fixture
async def service(tmp_path: Path, redis_url: str, database: str) -> AsyncIterator[Service]:
    settings = load_settings(
        {
            "SUBGATE_DATA_DIR": str(tmp_path),
            "SUBGATE_DATABASE_URL": database,
            "SUBGATE_ALLOW_PRIVATE_TARGETS": "true",
            "SUBGATE_RETRY_SCHEDULE": "0,0,0",
            "SUBGATE_DELIVERY_TIMEOUT_SECONDS": "5",
        },
        dotenv=None,
    )
    spans = InMemorySpanExporter()
    telemetry = Telemetry("subgate-test", extra_processors=(SimpleSpanProcessor(spans),))
    clock = OffsetClock()
    deps = await build(settings, redis_url=redis_url, telemetry=telemetry, clock=clock)
    # `finally`: a set-up step failing after `build` must still close the store
    # and the Redis pool, or they outlive this test's event loop.
    try:
        await deps.redis.flushdb()
        await migrate(deps.store)
        _, api_key = await deps.admin.create_merchant("Test merchant")
        transport = httpx.ASGITransport(app=create_app(deps.gateway), client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://subgate.test") as client:
            yield Service(
                deps=deps, clock=clock, client=client, spans=spans, api_key=api_key, data_dir=tmp_path
            )
    finally:
        await deps.close()
        collect_abandoned_sockets()
