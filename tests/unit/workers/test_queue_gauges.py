"""The queue gauges: sampled from the store into the metrics, and unharmed by a store that fails.

A sample leaves each queue's depth and due count where a collection reads them. A store that
cannot be counted makes the gauges report nothing (never a stale figure), is logged once per
outage, and stops neither the sampling loop nor the worker around it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest
from structlog.testing import capture_logs

from domain.inbound.external import VerifiedEvent
from domain.inbound.model import InboundStatus
from integrations.redis.signals import LocalSignal
from integrations.stores.backlog import QueueCounts
from integrations.stores.leases import WorkerRegistry
from integrations.telemetry.tracing import Telemetry
from tests.support.fakes import Services, build_services
from tests.support.metrics import Scrape
from tests.support.work import record_final, verified_stripe_event
from workers.deps import WorkerConfig, WorkerDeps
from workers.gauges import QueueGauges
from workers.pipeline import Pipeline

DEPTH = "subgate_queue_depth"
DUE = "subgate_queue_due"
QUEUES = {"inbound", "outbox", "deliveries"}
DEADLINE_SECONDS = 5.0


def verified(provider_event_id: str) -> VerifiedEvent:
    return verified_stripe_event(
        merchant_id="mer_1",
        connection_id="conn_1",
        event_id=provider_event_id,
        event_type="invoice.paid",
        body=b"{}",
    )


@pytest.fixture
async def telemetry() -> AsyncIterator[Telemetry]:
    made = Telemetry("subgate-test")
    try:
        yield made
    finally:
        made.shutdown()


def scrape(telemetry: Telemetry) -> Scrape:
    return Scrape.parse(telemetry.prometheus.render().decode())


def gauges(services: Services, telemetry: Telemetry, every: float = 5.0) -> QueueGauges:
    return QueueGauges(QueueCounts(services.store, services.clock), telemetry.metrics, every=every)


async def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        await asyncio.sleep(0.01)  # polling a condition, bounded by the deadline above


async def test_a_sample_reports_each_queues_depth_and_due_count(telemetry: Telemetry) -> None:
    services = build_services()
    for n in range(3):
        await services.inbound.receive(verified(f"evt_{n}"))
    await services.inbound_internal.claim("w1", 1)

    sampler = gauges(services, telemetry)
    assert await sampler.sample()

    seen = scrape(telemetry)
    assert seen.value(DEPTH, queue="inbound") == 3
    assert seen.value(DUE, queue="inbound") == 2  # the claimed one waits for no worker
    assert seen.label_values(DEPTH, "queue") == seen.label_values(DUE, "queue") == QUEUES

    # Another event is claimed and settled: the next sample replaces the figures (no sum).
    [claimed] = await services.inbound_internal.claim("w1", 1)
    await record_final(services.inbound_internal, claimed.id, InboundStatus.APPLIED)
    assert await sampler.sample()
    again = scrape(telemetry)
    assert (again.value(DEPTH, queue="inbound"), again.value(DUE, queue="inbound")) == (2, 1)


async def test_a_failing_store_clears_the_gauges_and_is_logged_once_per_outage(telemetry: Telemetry) -> None:
    services = build_services()
    await services.inbound.receive(verified("evt_1"))
    sampler = gauges(services, telemetry)
    assert await sampler.sample()

    services.store.unavailable = True
    with capture_logs() as logs:
        assert not await sampler.sample()
        assert not await sampler.sample()
        outage = scrape(telemetry)
        services.store.unavailable = False
        assert await sampler.sample()

    assert [(entry["event"], entry["log_level"]) for entry in logs] == [
        ("queue_count_failed", "warning"),
        ("queue_count_recovered", "info"),
    ]
    assert "unavailable" in logs[0]["error"]
    # While the store cannot be counted, no figure at all rather than the last one.
    assert outage.label_values(DEPTH, "queue") == outage.label_values(DUE, "queue") == set()
    assert scrape(telemetry).value(DEPTH, queue="inbound") == 1


async def test_the_sampling_loop_carries_on_through_an_outage(telemetry: Telemetry) -> None:
    services = build_services()
    services.store.unavailable = True
    stop = asyncio.Event()
    with capture_logs() as logs:
        loop = asyncio.create_task(gauges(services, telemetry, every=0.01).run(stop))
        await until(lambda: len(logs) == 1, "the failure is logged")
        assert not loop.done()
        services.store.unavailable = False
        await until(lambda: scrape(telemetry).label_values(DEPTH, "queue") == QUEUES, "the gauges are back")
        stop.set()
        await asyncio.wait_for(loop, DEADLINE_SECONDS)

    assert [entry["event"] for entry in logs] == ["queue_count_failed", "queue_count_recovered"]


def worker_deps(services: Services, telemetry: Telemetry) -> WorkerDeps:
    return WorkerDeps(
        config=WorkerConfig(poll_seconds=0.01, heartbeat_seconds=0.01),
        clock=services.clock,
        telemetry=telemetry,
        providers={},
        signal=LocalSignal(),
        registry=WorkerRegistry(services.store, services.clock),
        redis=None,
        subscriptions=services.subscriptions,
        inbound=services.inbound_internal,
        notifications=services.notifications,
        queues=QueueCounts(services.store, services.clock),
    )


async def test_the_worker_samples_the_queues_while_it_runs(telemetry: Telemetry) -> None:
    services = build_services()
    stop = asyncio.Event()
    running = asyncio.create_task(Pipeline(worker_deps(services, telemetry), "w_gauges").run(stop))
    try:
        await until(lambda: scrape(telemetry).label_values(DEPTH, "queue") == QUEUES, "the gauges appear")
    finally:
        stop.set()
        await asyncio.wait_for(running, DEADLINE_SECONDS)


async def test_a_worker_whose_store_cannot_be_counted_keeps_running(telemetry: Telemetry) -> None:
    services = build_services()
    services.store.unavailable = True
    stop = asyncio.Event()
    with capture_logs() as logs:
        running = asyncio.create_task(Pipeline(worker_deps(services, telemetry), "w_outage").run(stop))
        try:
            await until(
                lambda: any(entry["event"] == "queue_count_failed" for entry in logs), "the failure is logged"
            )
            assert not running.done()
        finally:
            stop.set()
            await asyncio.wait_for(running, DEADLINE_SECONDS)

    assert scrape(telemetry).label_values(DEPTH, "queue") == set()
