"""Delivery: notifications per second sent by one `subgate worker` process to a loopback receiver,
next to a plain arq worker running no-op jobs (`benchmarks.noop_worker`), in the same run.

Before the worker starts, N outbox messages are stored and dispatched through the real services
(so N `deliver_webhook` jobs wait in arq); the figure covers claiming, signing, POSTing and
recording each delivery. The receiver (`benchmarks.receiver`) is a separate process.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from arq.constants import default_queue_name

from benchmarks.noop_worker import enqueue_noop_jobs
from benchmarks.processes import (
    HOST,
    ROOT,
    BenchmarkError,
    Child,
    child_env,
    free_port,
    module_command,
    subgate_command,
    subgate_env,
)
from domain.notifications.model import DeliveryStatus, Endpoint
from domain.notifications.ports import DeliveryFilter
from domain.notifications.service import NewEndpoint
from domain.shared.events import EventType
from domain.shared.ids import new_id
from domain.shared.outbox import OutboxMessage
from domain.shared.pagination import MAX_LIMIT, PageRequest
from integrations.redis.embedded import EmbeddedRedis
from integrations.storage.repositories import StoreUnit
from integrations.storage.txn import StoreTxn
from subgate.bootstrap import Deps, build, migrate
from subgate.settings import Settings, load_settings

_INSERT_BATCH = 500
_ENQUEUE_BATCH = 100
_POLL_S = 0.02


@dataclass(frozen=True, slots=True)
class Window:
    """`count` expected arrivals between `first` and `last` (monotonic seconds); `arrived` counts
    duplicates too (at-least-once delivery allows them, but none are expected without failures)."""

    count: int
    first: float
    last: float
    arrived: int

    @property
    def per_second(self) -> float:
        span = self.last - self.first
        return self.count / span if span > 0 else float("inf")


@dataclass(frozen=True, slots=True)
class DeliverySample:
    """One repeat: subgate's worker and the no-op arq worker on the same number of jobs."""

    delivered: Window
    worker_started: float  # monotonic time the worker process was spawned
    all_succeeded: float  # monotonic time every delivery was seen `succeeded` in the store
    noop: Window
    worker_peak_rss_bytes: int

    @property
    def ratio(self) -> float:
        return self.delivered.per_second / self.noop.per_second

    @property
    def end_to_end_seconds(self) -> float:
        """From spawning the worker (interpreter start included) to every delivery succeeded."""
        return self.all_succeeded - self.worker_started


def _timeout_for(jobs: int) -> float:
    return 60.0 + jobs / 50


def run_delivery(deliveries: int) -> DeliverySample:
    """One repeat: the no-op reference first, then subgate's worker, each on a fresh Redis."""
    with tempfile.TemporaryDirectory(prefix="subgate-bench-delivery-") as scratch:
        root = Path(scratch)
        noop = _measure_noop(root, deliveries)
        delivered, started, succeeded, peak_rss = _measure_worker(root, deliveries)
    return DeliverySample(
        delivered=delivered,
        worker_started=started,
        all_succeeded=succeeded,
        noop=noop,
        worker_peak_rss_bytes=peak_rss,
    )


def _measure_noop(root: Path, jobs: int) -> Window:
    result_file = root / "noop.json"
    with EmbeddedRedis(root / "redis-noop") as redis:
        asyncio.run(enqueue_noop_jobs(redis.url, jobs))
        argv = module_command("noop_worker", redis.url, str(jobs), str(result_file))
        with Child("arq no-op worker", argv, env=child_env(), cwd=ROOT, log=root / "noop.log") as worker:
            code = worker.wait_exit(_timeout_for(jobs))
            if code != 0:
                raise BenchmarkError(f"the no-op worker exited with {code}\n{worker.log_tail()}")
    stats = json.loads(result_file.read_text())
    return _window(stats, jobs, "no-op jobs")


def _measure_worker(root: Path, deliveries: int) -> tuple[Window, float, float, int]:
    receiver_port = free_port()
    receiver_argv = module_command("receiver", str(receiver_port))
    with (
        EmbeddedRedis(root / "redis") as redis,
        Child("receiver", receiver_argv, env=child_env(), cwd=ROOT, log=root / "receiver.log") as receiver,
    ):
        receiver.wait_listening(receiver_port)
        env = subgate_env(root / "data", redis.url, allow_private_targets="true")
        settings = load_settings(env, dotenv=None)
        target = f"http://{HOST}:{receiver_port}/hooks"
        merchant_id = asyncio.run(_prepare(settings, redis.url, target, deliveries))
        with Child(
            "subgate worker", subgate_command("worker"), env=env, cwd=root, log=root / "worker.log"
        ) as worker:
            try:
                window, succeeded = asyncio.run(
                    _wait_until_delivered(settings, redis.url, merchant_id, receiver_port, deliveries, worker)
                )
            except BenchmarkError as error:
                raise BenchmarkError(f"{error}\n{worker.log_tail()}") from None
            worker.check_alive()
            worker.stop()
            return window, worker.started_at, succeeded, worker.peak_rss_bytes


async def _prepare(settings: Settings, redis_url: str, target: str, deliveries: int) -> str:
    """A merchant, one endpoint and `deliveries` outbox messages, dispatched by the real fan-out.

    `NotificationsInternal.dispatch_pending` leaves one pending delivery per message and one
    `deliver_webhook` job each in arq, before the worker under test starts.
    """
    deps = await build(settings, redis_url=redis_url)
    try:
        await migrate(deps.store)
        merchant, _ = await deps.admin.create_merchant("Benchmark merchant")
        endpoint = await deps.gateway.notifications.create_endpoint(merchant.id, NewEndpoint(url=target))
        await _store_messages(deps, endpoint, deliveries)
        # The real fan-out: one delivery per message and its `deliver_webhook` job.
        while await deps.worker.notifications.dispatch_pending(limit=500):
            pass
        queued = await deps.queue.pool.zcard(default_queue_name)
        if queued != deliveries:
            raise BenchmarkError(f"{queued} deliver jobs are queued, expected {deliveries}")
        return merchant.id
    finally:
        await deps.close()


async def _store_messages(deps: Deps, endpoint: Endpoint, count: int) -> None:
    now = datetime.now(UTC)
    txn = StoreTxn(deps.store)
    for start in range(0, count, _INSERT_BATCH):
        messages = [
            _message(endpoint.merchant_id, now) for _ in range(start, min(count, start + _INSERT_BATCH))
        ]

        async def add(unit: StoreUnit, messages: list[OutboxMessage] = messages) -> None:
            for message in messages:
                await unit.outbox.append(message)

        await txn(add)


def _message(merchant_id: str, now: datetime) -> OutboxMessage:
    """A pending `subscription.created` message shaped like the subscriptions context's ones."""
    subscription_id = new_id("sub")
    iso = now.isoformat().replace("+00:00", "Z")
    view = {
        "id": subscription_id,
        "customer_id": new_id("cus"),
        "plan_id": "plan_benchmark",
        "status": "active",
        "current_period_start": iso,
        "current_period_end": (now + timedelta(days=30)).isoformat(),
        "cancel_at_period_end": False,
        "trial_end": None,
        "canceled_at": None,
        "provider": "stripe",
        "provider_subscription_id": f"sub_{subscription_id}",
        "created_at": iso,
        "updated_at": iso,
    }
    return OutboxMessage(
        id=new_id("msg"),
        merchant_id=merchant_id,
        event_type=EventType.SUBSCRIPTION_CREATED,
        subject_id=subscription_id,
        occurred_at=now,
        data={"subscription": view},
    )


async def _wait_until_delivered(
    settings: Settings, redis_url: str, merchant_id: str, receiver_port: int, deliveries: int, worker: Child
) -> tuple[Window, float]:
    """Poll the receiver until every delivery arrived, then the store until every one is recorded.

    The store is only read once all requests have arrived: each SQLite session takes the write
    lock, so reading earlier would slow down the worker being measured.
    """
    deadline = time.monotonic() + _timeout_for(deliveries)
    stats_url = f"http://{HOST}:{receiver_port}/stats"
    async with aiohttp.ClientSession() as session:
        while True:
            async with session.get(stats_url) as response:
                stats = await response.json()
            if stats["count"] >= deliveries:
                break
            _check_progress(worker, deadline, f"{stats['count']} of {deliveries} deliveries arrived")
            await asyncio.sleep(_POLL_S)
    window = _window(stats, deliveries, "deliveries")
    deps = await build(settings, redis_url=redis_url)
    try:
        while await _unfinished(deps):
            _check_progress(worker, deadline, "some deliveries were never recorded as succeeded")
            await asyncio.sleep(_POLL_S)
        succeeded = time.monotonic()
        await _check_all_succeeded(deps, merchant_id, deliveries)
    finally:
        await deps.close()
    return window, succeeded


def _check_progress(worker: Child, deadline: float, situation: str) -> None:
    worker.check_alive()
    if time.monotonic() > deadline:
        raise BenchmarkError(f"timed out: {situation}")


async def _unfinished(deps: Deps) -> bool:
    """True while some delivery is still pending or failed (a running attempt counts as pending)."""
    horizon = datetime.now(UTC) + timedelta(days=1)

    async def work(unit: StoreUnit) -> bool:
        return bool(await unit.deliveries.due(horizon, 1))

    return await StoreTxn(deps.store)(work)


async def _check_all_succeeded(deps: Deps, merchant_id: str, deliveries: int) -> None:
    """Every delivery `succeeded`, none dead: anything else means the figure is not trustworthy."""
    statuses: dict[str, int] = {}
    cursor: str | None = None
    while True:
        page = await deps.gateway.notifications.list_deliveries(
            merchant_id, DeliveryFilter(), PageRequest(limit=MAX_LIMIT, starting_after=cursor)
        )
        for delivery in page.items:
            statuses[delivery.status.value] = statuses.get(delivery.status.value, 0) + 1
        if not page.has_more or not page.items:
            break
        cursor = page.items[-1].id
    if statuses != {DeliveryStatus.SUCCEEDED.value: deliveries}:
        raise BenchmarkError(f"expected {deliveries} succeeded deliveries, found {statuses}")


def _window(stats: dict[str, object], expected: int, what: str) -> Window:
    count, first, last = stats["count"], stats["first"], stats["last"]
    if not isinstance(count, int) or not isinstance(first, float) or not isinstance(last, float):
        raise BenchmarkError(f"no {what} were recorded: {stats}")
    if count < expected:
        raise BenchmarkError(f"only {count} of {expected} {what} were recorded")
    # The rate uses the expected count, so duplicate sends can never inflate it.
    return Window(count=expected, first=first, last=last, arrived=count)
