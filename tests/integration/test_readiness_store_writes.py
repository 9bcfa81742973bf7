"""`/readyz` asks whether the store takes a write, not only whether it answers: a `subgate serve`
whose every file write fails (as on a full disk) answers 503 with `"store": false` while its
reads still work, and 200 again once writes go through; on MongoDB, a server that stops.

As in `test_store_outage_sqlite`: the tests run as root, whom permissions do not stop, so the
per-process file-size limit (RLIMIT_FSIZE, one byte) makes every write of the process fail; its
log goes through a pipe, which the limit does not cover.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

import httpx
import pytest

from subgate.bootstrap import build, migrate
from subgate.settings import load_settings
from tests.integration.test_store_outage_mongo import StoppedMongo
from tests.integration.test_store_outage_scenario import piped_subgate, service_env
from tests.support.cli import wait_until_healthy
from tests.support.mongo import collect_abandoned_sockets
from tests.support.redis import CrashableRedis
from tests.support.service_processes import eventually

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="prlimit as Linux has it")

UNLIMITED = (resource.RLIM_INFINITY, resource.RLIM_INFINITY)


async def test_readiness_fails_while_the_store_cannot_be_written(tmp_path: Path) -> None:
    with CrashableRedis(tmp_path / "redis") as redis_server:
        env = service_env(tmp_path, redis_server.url)
        base_url = f"http://127.0.0.1:{env['SUBGATE_PORT']}"
        async with piped_subgate("serve", env, tmp_path) as serve:
            await wait_until_healthy(base_url)
            async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
                ready = await client.get("/readyz")
                resource.prlimit(serve.process.pid, resource.RLIMIT_FSIZE, (1, resource.RLIM_INFINITY))
                try:

                    async def unready() -> bool:
                        return (await client.get("/readyz")).status_code == 503

                    await eventually(unready, "readiness reports the unwritable store")
                    during = await client.get("/readyz")
                    reads = await client.get("/openapi.json")
                finally:
                    resource.prlimit(serve.process.pid, resource.RLIMIT_FSIZE, UNLIMITED)

                async def ready_again() -> bool:
                    return (await client.get("/readyz")).status_code == 200

                await eventually(ready_again, "readiness reports the store writable again")
        logged = (serve.logged("store_not_writable"), serve.logged("store_writable_again"))

    # The body also reports the workers (none run beside this `serve`): not a check.
    assert (ready.json()["status"], ready.json()["checks"]) == ("ok", {"store": True, "redis": True})
    assert (during.json()["status"], during.json()["checks"]) == (
        "unavailable",
        {"store": False, "redis": True},
    )
    assert reads.status_code == 200  # the process itself is fine: only writes fail
    assert logged == (True, True)


async def test_readiness_follows_a_mongodb_server_that_stops_and_comes_back(
    tmp_path: Path, redis_url: str
) -> None:
    server = StoppedMongo(tmp_path)
    server.start()
    try:
        settings = load_settings(
            {"SUBGATE_DATA_DIR": str(tmp_path), "SUBGATE_DATABASE_URL": server.url}, dotenv=None
        )
        deps = await build(settings, redis_url=redis_url)
        try:
            await migrate(deps.store)
            before = await deps.gateway.readiness()
            server.stop()

            async def unready() -> bool:
                return (await deps.gateway.readiness())["store"] is False

            await eventually(unready, "readiness reports the stopped server")
            server.start()

            async def ready() -> bool:
                return (await deps.gateway.readiness())["store"] is True

            await eventually(ready, "readiness reports the server back")
        finally:
            await deps.close()
            collect_abandoned_sockets()
    finally:
        server.stop()

    assert before == {"store": True, "redis": True}
