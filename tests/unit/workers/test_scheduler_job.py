"""The scheduler's step: what one run does, how often it runs, that arq's cron has it, and that it
runs from the worker's own loop while the arq Worker is down (Redis away), and only then."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from domain.inbound.external import VerifiedEvent
from domain.inbound.model import InboundStatus
from domain.merchants.model import Connection, Provider
from domain.shared.work import WorkKind
from domain.subscriptions.external.catalog import NewCustomer, NewPlan
from domain.subscriptions.external.management import NewSubscription
from domain.subscriptions.model import Interval
from integrations.redis.client import redis_client
from integrations.redis.signals import LocalSignal
from integrations.stores.leases import WorkerRegistry
from integrations.stores.repositories import StoreUnit
from integrations.stores.retention.purge import Purger
from integrations.stores.sealing.keyring import Keyring
from integrations.stores.sealing.keys import key_id, new_key
from integrations.stores.sealing.resealing import Resealer
from integrations.stores.sealing.sealed import SEALED_WITH, SealedStore
from integrations.stores.txn import StoreTxn
from integrations.telemetry.tracing import Telemetry
from tests.support.fakes import Services, build_services
from tests.support.metrics import Scrape
from tests.support.work import record_final, verified_stripe_event
from workers.deps import WorkerConfig, WorkerDeps
from workers.runner import SCHEDULER, build_worker, run_scheduler
from workers.scheduling import SchedulerStandIn, scheduler_seconds


class CountingSignal(LocalSignal):
    def __init__(self) -> None:
        super().__init__()
        self.kinds: list[WorkKind] = []

    def notify(self, kind: WorkKind) -> None:
        self.kinds.append(kind)
        super().notify(kind)


@pytest.fixture
async def services() -> Services:
    return build_services()


@pytest.fixture
async def deps(services: Services) -> AsyncIterator[WorkerDeps]:
    telemetry = Telemetry("subgate-test")
    try:
        yield WorkerDeps(
            config=WorkerConfig(poll_seconds=0.5),
            clock=services.clock,
            telemetry=telemetry,
            providers={},
            signal=CountingSignal(),
            registry=WorkerRegistry(services.store, services.clock),
            redis=None,
            subscriptions=services.subscriptions,
            inbound=services.inbound_internal,
            notifications=services.notifications,
        )
    finally:
        telemetry.shutdown()


async def pending_subscription(services: Services) -> None:
    external = services.subscriptions_external
    customer = await external.customers.create("mer_1", NewCustomer(email="ada@example.com"))
    plan = await external.plans.create(
        "mer_1", NewPlan(name="Basic", amount=900, currency="usd", interval=Interval.MONTH)
    )
    await external.create("mer_1", NewSubscription(customer_id=customer.id, plan_id=plan.id))


def with_redis(deps: WorkerDeps) -> WorkerDeps:
    # Never connected: building an arq Worker only keeps the pool.
    return replace(deps, redis=redis_client("redis://:unused@127.0.0.1:1/0"))


def job_context(deps: WorkerDeps) -> dict[str, Any]:
    """What arq hands a job: a copy of the worker's context."""
    return dict(build_worker(with_redis(deps), handle_signals=False).ctx)


async def test_a_run_moves_what_is_due_and_wakes_the_outbox(services: Services, deps: WorkerDeps) -> None:
    await pending_subscription(services)
    services.clock.advance(timedelta(hours=23))
    signal = deps.signal
    assert isinstance(signal, CountingSignal)

    result = await run_scheduler(job_context(deps))

    assert result == "1 moves"
    assert signal.kinds == [WorkKind.OUTBOX]
    assert [doc["event_type"] for doc in services.store.inserted("outbox")][-1] == "subscription.expired"


async def test_a_run_with_nothing_due_wakes_nobody(services: Services, deps: WorkerDeps) -> None:
    await pending_subscription(services)
    signal = deps.signal
    assert isinstance(signal, CountingSignal)

    assert await run_scheduler(job_context(deps)) == "0 moves"
    assert signal.kinds == []


async def test_a_second_run_while_one_is_going_steps_aside(services: Services, deps: WorkerDeps) -> None:
    ctx = job_context(deps)
    held = ctx["scheduler_busy"]
    assert isinstance(held, asyncio.Lock)

    async with held:
        assert await run_scheduler(ctx) == "busy"


async def test_each_run_reseals_a_few_secrets_with_the_first_key(
    services: Services, deps: WorkerDeps
) -> None:
    old, new = new_key(), new_key()

    async def add(unit: StoreUnit) -> None:
        for n in range(3):
            await unit.connections.add(
                Connection(
                    id=f"conn_{n}",
                    merchant_id="mer_1",
                    provider=Provider.STRIPE,
                    webhook_secrets=("whsec_worker_resealed",),
                    api_key=None,
                    created_at=services.clock(),
                )
            )

    await StoreTxn(SealedStore(services.store, Keyring([old])))(add)
    rotated = SealedStore(services.store, Keyring([new, old]))
    ctx = job_context(replace(deps, secrets=Resealer(rotated, services.clock, step_documents=2)))

    await run_scheduler(ctx)
    assert sorted(d[SEALED_WITH] for d in services.store.documents("connections")) == sorted(
        [key_id(new)] * 2 + [key_id(old)]
    )
    await run_scheduler(ctx)
    assert {d[SEALED_WITH] for d in services.store.documents("connections")} == {key_id(new)}


def test_the_worker_has_the_scheduler_among_its_cron_jobs(deps: WorkerDeps) -> None:
    worker = build_worker(with_redis(deps), handle_signals=False)

    [job] = worker.cron_jobs
    assert (job.name, job.run_at_startup, job.unique) == (SCHEDULER, True, True)
    assert worker.functions[SCHEDULER] is job


@pytest.mark.parametrize(
    ("poll_seconds", "seconds"),
    [
        (0.5, set(range(60))),
        (1.0, set(range(60))),
        (5.0, set(range(0, 60, 5))),
        (7.0, set(range(0, 60, 7))),
        (90.0, {0}),
    ],
)
def test_the_scheduler_runs_as_often_as_the_loops_look(poll_seconds: float, seconds: set[int]) -> None:
    assert scheduler_seconds(poll_seconds) == seconds


async def test_each_run_takes_a_step_of_retention_and_counts_what_it_removed(
    services: Services, deps: WorkerDeps
) -> None:
    await services.inbound.receive(old_event(services, "evt_old"))
    await record_final(services.inbound_internal, await first_event_id(services), InboundStatus.APPLIED)
    purger = Purger(services.store, services.clock, payloads=timedelta(days=1), records=timedelta(days=30))
    ctx = job_context(replace(deps, retention=purger))
    services.clock.advance(timedelta(days=2))

    await run_scheduler(ctx)

    [event] = services.store.documents("inbound_events")
    assert (event["body"], event["status"]) == ("", "applied")
    scrape = Scrape.parse(deps.telemetry.prometheus.render().decode())
    assert scrape.value("subgate_purged_total", kind="inbound_payloads") == 1
    assert scrape.value("subgate_purged_total", kind="inbound_events") == 0


def old_event(services: Services, event_id: str) -> VerifiedEvent:
    return verified_stripe_event(
        merchant_id="mer_1",
        connection_id="conn_1",
        event_id=event_id,
        event_type="customer.created",
        body=b'{"id": "evt_old"}',
    )


async def first_event_id(services: Services) -> str:
    [doc] = services.store.documents("inbound_events")
    return str(doc["id"])


def expired_messages(services: Services) -> list[str]:
    return [
        doc["subject_id"]
        for doc in services.store.inserted("outbox")
        if doc["event_type"] == "subscription.expired"
    ]


async def test_while_the_arq_worker_is_down_the_stand_in_runs_the_step(
    services: Services, deps: WorkerDeps
) -> None:
    stand_in = SchedulerStandIn(deps, asyncio.Lock())
    await pending_subscription(services)
    services.clock.advance(timedelta(hours=23))

    assert await stand_in.tick() is True
    assert len(expired_messages(services)) == 1


async def test_while_the_arq_worker_runs_the_stand_in_leaves_the_step_to_its_cron(
    services: Services, deps: WorkerDeps
) -> None:
    stand_in = SchedulerStandIn(deps, asyncio.Lock())
    await stand_in.redis_answered({})
    await pending_subscription(services)
    services.clock.advance(timedelta(hours=23))

    assert await stand_in.tick() is False
    assert expired_messages(services) == []

    stand_in.redis_lost()  # the arq Worker failed: Redis is away again
    assert await stand_in.tick() is True
    assert len(expired_messages(services)) == 1


async def test_the_cron_and_the_stand_in_of_a_worker_never_run_at_once(
    services: Services, deps: WorkerDeps
) -> None:
    stand_in = SchedulerStandIn(deps, asyncio.Lock())
    worker = build_worker(with_redis(deps), handle_signals=False, busy=stand_in.busy)
    await pending_subscription(services)
    services.clock.advance(timedelta(hours=23))

    assert worker.ctx["scheduler_busy"] is stand_in.busy
    async with stand_in.busy:  # a cron run is going
        assert await stand_in.tick() is True
    assert expired_messages(services) == []  # it stepped aside
    assert await run_scheduler(dict(worker.ctx)) == "1 moves"


async def test_a_failing_run_of_the_stand_in_is_tried_at_its_next_look(
    services: Services, deps: WorkerDeps
) -> None:
    failing = replace(deps, subscriptions=None)  # type: ignore[arg-type]  # a run that raises
    stand_in = SchedulerStandIn(failing, asyncio.Lock())

    assert await stand_in.tick() is True  # the error is logged, the stand-in goes on
    assert await stand_in.tick() is True
