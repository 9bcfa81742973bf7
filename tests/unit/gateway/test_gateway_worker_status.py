"""`/readyz` tells whether workers run, beside its checks: a stopped worker is visible next to a
healthy server, which stays ready (readiness is about taking traffic)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import httpx

from gateway.app import create_app
from integrations.stores.leases import WorkerCensus, WorkerRegistry
from tests.unit.gateway.fakes import Gateway


async def test_readyz_tells_whether_workers_run_without_failing_for_it(gateway: Gateway) -> None:
    registry = WorkerRegistry(gateway.store, gateway.clock)

    async def census() -> WorkerCensus:
        return await registry.census(timedelta(seconds=5))

    app = create_app(replace(gateway.deps, workers=census))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        none = (await client.get("/readyz")).json()
        await registry.beat("wrk_a")
        await registry.beat("wrk_b")
        gateway.clock.advance(2)
        await registry.beat("wrk_b")
        two = (await client.get("/readyz")).json()
        gateway.clock.advance(10)
        stopped = await client.get("/readyz")

    assert none["workers"] == {"alive": 0, "silent": 0, "heartbeat_age_seconds": None}
    assert two["workers"] == {"alive": 2, "silent": 0, "heartbeat_age_seconds": 0.0}
    assert stopped.status_code == 200  # readiness is about this server taking traffic
    assert stopped.json()["workers"] == {"alive": 0, "silent": 2, "heartbeat_age_seconds": 10.0}
