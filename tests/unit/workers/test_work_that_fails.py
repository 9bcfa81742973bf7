"""Work that fails in a way nothing expected never stops a worker, and never comes back forever.

An event whose processing raises an unexpected error ends `failed` with the error as its reason
(counted, and not run again through its lease); the store being away stays transient. A claim
that raises anything keeps its loop alive; a recorder whose write raises hands the error to its
items instead of leaving them waiting; one outbox message whose fan-out raises, or one
subscription the scheduler cannot move, leaves the others done.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

import pytest

from domain.inbound.internal import InboundInternal
from domain.inbound.model import InboundEvent, InboundStatus
from domain.merchants.external import NewConnection
from domain.notifications.health import DISPATCH_FAILED
from domain.notifications.internal import DeliveryOptions, NotificationsInternal
from domain.notifications.model import Endpoint, SigningSecret
from domain.notifications.ports import EndpointRepository, NotificationsUnit
from domain.shared.events import EventType
from domain.shared.outbox import OutboxMessage
from domain.subscriptions.commands import ProviderCommand
from domain.subscriptions.internal import SubscriptionsInternal
from domain.subscriptions.model import Subscription
from domain.subscriptions.ports import SubscriptionsUnit
from domain.subscriptions.recording import ChangeRecorder
from domain.subscriptions.scheduler import ScheduleRun, SubscriptionScheduler
from domain.subscriptions.state_machine import SubscriptionStatus
from domain.subscriptions.timed_moves import StampingTxn, Timing
from integrations.providers.interface import Ignored, ProviderAdapter
from integrations.providers.stripe.samples import subscription_event
from integrations.redis.signals import LocalSignal
from integrations.stores import codecs
from integrations.stores.documents import StorageError
from integrations.stores.leases import WorkerRegistry
from integrations.stores.txn import StoreTxn
from integrations.telemetry.metrics import MeteredJournal, MeteredUnreadable
from integrations.telemetry.tracing import Telemetry
from subgate.bootstrap import providers
from tests.support.fakes import Services, build_services
from tests.support.metrics import Scrape
from tests.support.work import run_until_idle, stored_event, verified_stripe_event
from workers.deps import WorkerConfig, WorkerDeps
from workers.pipeline import Pipeline
from workers.pumps import BatchRecorder, Pump
from workers.runner import run_scheduler
from workers.tasks import apply_inbound

DEADLINE = 5.0
T = TypeVar("T")


class FailingAdapter(ProviderAdapter):
    """A provider adapter whose normalization raises what it is given (a defect, an outage)."""

    name = "stripe"

    def __init__(self, error: Exception) -> None:
        self.error = error

    def verify(self, *_: Any) -> None:
        return None

    def envelope(self, *_: Any) -> Any:
        raise NotImplementedError

    def normalize(self, *_: Any) -> Sequence[ProviderCommand] | Ignored:
        raise self.error


@dataclass
class Worker:
    services: Services
    deps: WorkerDeps
    telemetry: Telemetry

    async def receive(self, event_id: str) -> None:
        body = subscription_event("customer.subscription.created", event_id=event_id)
        merchant, _ = await self.services.merchants_internal.create_merchant(f"Merchant {event_id}")
        connection = await self.services.merchants.create_connection(
            merchant.id, NewConnection(provider="stripe", webhook_secrets=["whsec_failing_work"])
        )
        await self.services.inbound.receive(
            verified_stripe_event(
                merchant_id=merchant.id,
                connection_id=connection.id,
                event_id=event_id,
                event_type="customer.subscription.created",
                body=body,
            )
        )

    async def run_due(self) -> list[InboundEvent]:
        """Claim what is due, apply and record it, as the inbound loop does; the events as stored."""
        claimed = await self.services.inbound_internal.claim("wrk_test", 10)
        outcomes = [await apply_inbound(self.deps, event) for event in claimed]
        await self.services.inbound_internal.record(outcomes)
        stored = [await stored_event(self.services.txn, event.id) for event in claimed]
        return [event for event in stored if event is not None]

    def failed_items(self, queue: str, reason: str) -> float:
        scrape = Scrape.parse(self.telemetry.prometheus.render().decode())
        return scrape.value("subgate_work_items_failed_total", queue=queue, reason=reason)


def worker_with(services: Services, adapters: Mapping[str, Any], telemetry: Telemetry) -> Worker:
    deps = WorkerDeps(
        config=WorkerConfig(),
        clock=services.clock,
        telemetry=telemetry,
        providers=adapters,
        signal=LocalSignal(),
        registry=WorkerRegistry(services.store, services.clock),
        redis=None,
        subscriptions=services.subscriptions,
        inbound=services.inbound_internal,
        notifications=services.notifications,
    )
    return Worker(services=services, deps=deps, telemetry=telemetry)


@pytest.fixture
async def telemetry() -> AsyncIterator[Telemetry]:
    made = Telemetry("subgate-test")
    try:
        yield made
    finally:
        made.shutdown()


async def test_an_unexpected_error_fails_the_event_with_its_reason_once_and_for_all(
    telemetry: Telemetry,
) -> None:
    worker = worker_with(build_services(), {"stripe": FailingAdapter(KeyError("items"))}, telemetry)
    await worker.receive("evt_defect")

    [event] = await worker.run_due()
    worker.services.clock.advance(timedelta(minutes=10))  # far past any lease

    assert event.status == InboundStatus.FAILED
    assert event.reason == "unexpected error while applying the event: KeyError: 'items'"
    assert event.lease_owner is None
    assert await worker.services.inbound_internal.claim("wrk_test", 10) == []
    assert worker.failed_items("inbound", "unexpected_error") == 1


async def test_an_unreadable_event_fails_and_the_rest_of_its_batch_is_applied(telemetry: Telemetry) -> None:
    services = build_services()
    worker = worker_with(services, providers(services.merchants_internal.api_key, services.clock), telemetry)
    await worker.receive("evt_first")
    await worker.receive("evt_last")
    async with services.store.session() as session:
        [first] = await session.find("inbound_events", {"provider_event_id": "evt_first"}, limit=1)
        poison = first | {
            "id": "evt_poison",
            "provider_event_id": "evt_poison",
            "provider_created_at": "0000-01-01",
        }
        await session.insert("inbound_events", poison)
    # Its unreadable items reported as the composition root wires it: logged and counted.
    metered = StoreTxn(services.store, MeteredUnreadable(telemetry.metrics))
    deps = replace(worker.deps, inbound=InboundInternal(metered, services.clock))

    await run_until_idle(Pipeline(deps, "wrk_test"))

    stored = {doc["provider_event_id"]: doc for doc in services.store.documents("inbound_events")}
    assert stored["evt_first"]["status"] == stored["evt_last"]["status"] == "applied"
    assert stored["evt_poison"]["status"] == "failed"
    assert "provider_created_at" in stored["evt_poison"]["reason"]
    assert worker.failed_items("inbound", "unreadable") == 1


async def test_a_store_failure_while_applying_stays_transient(telemetry: Telemetry) -> None:
    worker = worker_with(build_services(), {"stripe": FailingAdapter(StorageError("disk gone"))}, telemetry)
    await worker.receive("evt_outage")
    [claimed] = await worker.services.inbound_internal.claim("wrk_test", 10)

    with pytest.raises(StorageError):
        await apply_inbound(worker.deps, claimed)
    worker.services.clock.advance(timedelta(seconds=61))  # its lease ran out

    [again] = await worker.services.inbound_internal.claim("wrk_test", 10)
    assert (again.id, again.status) == (claimed.id, InboundStatus.ACCEPTED)
    assert worker.failed_items("inbound", "unexpected_error") == 0


async def test_a_claim_that_raises_anything_keeps_its_loop_alive() -> None:
    ran = asyncio.Event()
    claims: list[int] = []

    async def claim(wanted: int) -> Sequence[str]:
        claims.append(wanted)
        if len(claims) == 1:
            raise RuntimeError("a defect in the claim")
        return ["item"] if len(claims) == 2 else []

    async def run(_: str) -> None:
        ran.set()

    stop = asyncio.Event()
    pump = Pump("test", claim, run, batch=1, max_in_flight=1, poll_seconds=60.0)
    loop = asyncio.create_task(pump.run(stop))
    try:
        await asyncio.wait_for(ran.wait(), DEADLINE)
        assert not loop.done()
    finally:
        stop.set()
        await asyncio.wait_for(loop, DEADLINE)


async def test_a_recorder_write_that_raises_anything_fails_its_items_instead_of_leaving_them_waiting() -> (
    None
):
    async def flush(_: list[str]) -> None:
        raise KeyError("a defect in the write")

    recorder = BatchRecorder[str]("test", flush)

    results = await asyncio.wait_for(
        asyncio.gather(recorder.add("a"), recorder.add("b"), return_exceptions=True), DEADLINE
    )

    assert [type(result) for result in results] == [KeyError, KeyError]


class FailingFor(ChangeRecorder):
    """The scheduler's recorder, raising for one subscription (as a defect in its move would)."""

    def __init__(self, subscription_id: str) -> None:
        super().__init__(dict)
        self.subscription_id = subscription_id

    async def commit(
        self,
        unit: SubscriptionsUnit,
        after: Subscription,
        events: Sequence[EventType],
        now: datetime,
        **rest: Any,
    ) -> Subscription:
        if after.id == self.subscription_id:
            raise ZeroDivisionError("a defect in this move")
        return await super().commit(unit, after, events, now, **rest)


async def test_one_subscription_the_scheduler_cannot_move_leaves_the_others_moved() -> None:
    services = build_services()
    now = services.clock()
    for sub_id in ("sub_a", "sub_bad", "sub_c"):
        trialing = Subscription(
            id=sub_id,
            merchant_id="mer_1",
            customer_id="cus_1",
            plan_id="plan_1",
            status=SubscriptionStatus.TRIALING,
            trial_end=now + timedelta(days=1),
            next_transition_at=now - timedelta(days=2),
            created_at=now,
            updated_at=now,
        )
        async with services.store.session() as session:
            await session.insert("subscriptions", codecs.subscription_doc(trialing))
    timing = Timing()
    scheduler = SubscriptionScheduler(
        StampingTxn(services.txn, timing, services.clock), services.clock, FailingFor("sub_bad")
    )

    run = await scheduler.run_due()

    assert (run.moves, run.events) == (2, 2)
    assert [(sub_id, type(error)) for sub_id, error in run.failures] == [("sub_bad", ZeroDivisionError)]
    assert run == ScheduleRun(moves=2, events=2)  # failures are reported, not compared


class EndpointsFailingFor:
    """The endpoints of a unit, whose listing raises for one merchant (a defect met in its data)."""

    def __init__(self, inner: EndpointRepository, merchant_id: str) -> None:
        self._inner = inner
        self._merchant_id = merchant_id

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def all_for(self, merchant_id: str) -> Sequence[Endpoint]:
        if merchant_id == self._merchant_id:
            raise RuntimeError("a defect in this merchant's endpoints")
        return await self._inner.all_for(merchant_id)


class UnitFailingFor:
    """A notifications unit whose endpoints fail for one merchant; every other repository as it is."""

    def __init__(self, inner: NotificationsUnit, merchant_id: str) -> None:
        self._inner = inner
        self.endpoints = EndpointsFailingFor(inner.endpoints, merchant_id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class LinesJournal:
    def __init__(self) -> None:
        self.warnings: list[tuple[str, dict[str, Any]]] = []

    def info(self, *_: Any, **__: Any) -> None:
        return None

    def warning(self, event: str, **fields: Any) -> None:
        self.warnings.append((event, fields))


async def test_one_message_whose_fan_out_raises_leaves_the_others_fanned_out() -> None:
    services = build_services()

    async def txn(work: Callable[[NotificationsUnit], Awaitable[T]]) -> T:
        return await services.txn(lambda unit: work(UnitFailingFor(unit, "mer_bad")))

    journal = LinesJournal()
    fan_out = NotificationsInternal(
        txn,
        services.clock,
        services.signal,
        services.sender,
        services.policy,
        5.0,
        options=DeliveryOptions(journal=journal),
    )
    for merchant_id in ("mer_bad", "mer_good"):
        endpoint = Endpoint(
            id=f"ep_{merchant_id}",
            merchant_id=merchant_id,
            url="https://hooks.example.com",
            event_types=(),
            description=None,
            enabled=True,
            secrets=(SigningSecret(value="whsec_x"),),
            created_at=services.clock(),
        )
        message = OutboxMessage(
            id=f"msg_{merchant_id}",
            merchant_id=merchant_id,
            event_type=EventType.SUBSCRIPTION_CREATED,
            subject_id="sub_1",
            occurred_at=services.clock(),
            data={},
        )
        async with services.store.session() as session:
            await session.insert("endpoints", codecs.endpoint_doc(endpoint))
            await session.insert("outbox", codecs.outbox_doc(message))

    made = await fan_out.dispatch_pending()

    assert made == 1
    assert [d["endpoint_id"] for d in services.store.documents("deliveries")] == ["ep_mer_good"]
    [(event, fields)] = journal.warnings
    assert (event, fields["message_id"], type(fields["error"])) == (
        DISPATCH_FAILED,
        "msg_mer_bad",
        RuntimeError,
    )
    pending = {doc["id"]: doc["dispatched"] for doc in services.store.documents("outbox")}
    assert pending == {"msg_mer_bad": False, "msg_mer_good": True}  # tried again at the next fan-out


def test_only_unexpected_fan_out_errors_are_counted(telemetry: Telemetry) -> None:
    journal = MeteredJournal(LinesJournal(), telemetry.metrics)

    journal.warning(DISPATCH_FAILED, message_id="msg_1", error=RuntimeError("defect"))
    journal.warning(DISPATCH_FAILED, message_id="msg_2", error=StorageError("away"))

    scrape = Scrape.parse(telemetry.prometheus.render().decode())
    assert scrape.value("subgate_work_items_failed_total", queue="outbox", reason="unexpected_error") == 1


class ScheduleWithFailures(SubscriptionsInternal):
    """The subscriptions service, its scheduler run reporting the failures it is given."""

    def __init__(self, services: Services, failures: tuple[tuple[str, Exception], ...]) -> None:
        super().__init__(services.txn, services.clock, dict)
        self.failures = failures

    async def run_schedule(self) -> ScheduleRun:
        return ScheduleRun(failures=self.failures)


async def test_the_scheduler_job_counts_the_subscriptions_it_could_not_move(telemetry: Telemetry) -> None:
    services = build_services()
    failures = (("sub_bug", ZeroDivisionError("defect")), ("sub_outage", StorageError("away")))
    worker = worker_with(services, {}, telemetry)
    deps = replace(worker.deps, subscriptions=ScheduleWithFailures(services, failures))

    await run_scheduler({"deps": deps, "scheduler_busy": asyncio.Lock()})

    assert worker.failed_items("subscriptions", "unexpected_error") == 1
