"""Work leased by a worker that died goes back to the store, due at once, for another worker.

Without the hand-back, a killed worker's inbound events would wait out their lease (a
minute) before anyone ran them again. The pipeline's heartbeat finds the silent worker,
retires it and hands back what it held; nothing else it did not hold is touched.
"""

from __future__ import annotations

from datetime import timedelta

from domain.inbound.external import VerifiedEvent
from domain.inbound.model import InboundStatus
from integrations.redis.signals import LocalSignal
from integrations.stores.leases import WorkerRegistry
from integrations.telemetry.tracing import Telemetry
from tests.support.fakes import Services, build_services
from tests.support.work import record_final, stored_event, verified_stripe_event
from workers.deps import WorkerConfig, WorkerDeps
from workers.pipeline import Pipeline


def verified(provider_event_id: str) -> VerifiedEvent:
    return verified_stripe_event(
        merchant_id="mer_1",
        connection_id="conn_1",
        event_id=provider_event_id,
        event_type="invoice.paid",
        body=b"{}",
    )


async def test_releasing_an_owner_hands_back_only_its_unfinished_events_due_now() -> None:
    services = build_services()
    inbound = services.inbound_internal
    for n in range(3):
        await services.inbound.receive(verified(f"evt_{n}"))
    first, second = await inbound.claim("w1", 2)
    [third] = await inbound.claim("w2", 10)
    await record_final(inbound, second.id, InboundStatus.APPLIED)
    services.clock.advance(timedelta(seconds=5))

    assert await inbound.release("w_nobody") == 0
    assert await inbound.release("w1") == 1

    handed = await stored_event(services.txn, first.id)
    assert handed is not None
    assert (handed.status, handed.lease_owner, handed.due_at) == (
        InboundStatus.ACCEPTED,
        None,
        services.clock(),
    )
    finished = await stored_event(services.txn, second.id)
    assert finished is not None
    assert finished.status == InboundStatus.APPLIED
    still_leased = await stored_event(services.txn, third.id)
    assert still_leased is not None
    assert still_leased.lease_owner == "w2"
    [again] = await inbound.claim("w3", 10)
    assert again.id == first.id
    assert again.lease_owner == "w3"


def pipeline(services: Services, telemetry: Telemetry, owner: str) -> Pipeline:
    deps = WorkerDeps(
        config=WorkerConfig(dead_after_seconds=5.0),
        clock=services.clock,
        telemetry=telemetry,
        providers={},
        signal=LocalSignal(),
        registry=WorkerRegistry(services.store, services.clock),
        redis=None,
        subscriptions=services.subscriptions,
        inbound=services.inbound_internal,
        notifications=services.notifications,
    )
    return Pipeline(deps, owner)


async def test_a_live_worker_hands_back_the_leases_of_one_that_went_silent() -> None:
    services = build_services()
    telemetry = Telemetry("subgate-test")
    try:
        dead, alive = pipeline(services, telemetry, "w_dead"), pipeline(services, telemetry, "w_alive")
        await dead.beat()
        await services.inbound.receive(verified("evt_held"))
        [held] = await services.inbound_internal.claim("w_dead", 10)
        services.clock.advance(timedelta(seconds=6))  # past dead_after, well within the lease

        handed = await alive.beat()
        again = await alive.beat()

        assert handed == 1
        assert again == 0  # retired once, by one finder
        assert not await alive.deps.registry.alive("w_dead")
        [taken] = await services.inbound_internal.claim("w_alive", 10)
        assert taken.id == held.id
    finally:
        telemetry.shutdown()
