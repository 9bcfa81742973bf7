"""Delivery: notifications per second sent by one `subgate worker` process to a loopback receiver,
next to a plain arq worker running no-op jobs (`benchmarks.noop_worker`), in the same run.

Before the worker starts, N outbox messages are stored with the real repositories and turned
into N pending deliveries by the real fan-out (`NotificationsInternal.dispatch_pending`), for
one endpoint at the receiver (`benchmarks.receiver`, its own process). The figure covers what
the worker does per delivery: claiming, signing, POSTing and recording the outcome; it is timed
from the first arrival at the receiver to the last. Each run has its own Redis.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.noop_worker import REDIS_URL_VARIABLE, enqueue_noop_jobs
from benchmarks.processes import (
    HOST,
    ROOT,
    BenchmarkError,
    Child,
    child_env,
    drive,
    free_port,
    module_command,
    subgate_command,
    subgate_env,
)
from benchmarks.profiles import maybe_profile
from benchmarks.results import RSS_WORKER_LABEL, Measurement, Target, rss_target
from domain.notifications.external import NewEndpoint
from domain.notifications.model import DeliveryStatus
from domain.notifications.ports import DeliveryFilter
from domain.shared.events import EventType
from domain.shared.ids import new_id
from domain.shared.outbox import OutboxMessage
from domain.shared.pagination import PageRequest
from integrations.stores.repositories import StoreUnit
from integrations.stores.txn import StoreTxn
from subgate.bootstrap import Deps, build, migrate
from subgate.redis.embedded import EmbeddedRedis
from subgate.settings import Settings, load_settings

RATE_TARGET = 1000.0
RATIO_TARGET = 0.8
# The main figure spreads the deliveries over this many merchants with one endpoint each, so
# that it measures the worker rather than one endpoint's concurrency cap (which the
# single-endpoint figure shows).
SPREAD_ENDPOINTS = 20
_INSERT_BATCH = 500
_POLL_S = 0.05


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


def window(stats: dict[str, Any], expected: int, what: str) -> Window:
    count, first, last = stats["count"], stats["first"], stats["last"]
    if not isinstance(count, int) or not isinstance(first, float) or not isinstance(last, float):
        raise BenchmarkError(f"no {what} were recorded: {stats}")
    if count < expected:
        raise BenchmarkError(f"only {count} of {expected} {what} were recorded")
    # The rate uses the expected count, so duplicate sends can never inflate it.
    return Window(count=expected, first=first, last=last, arrived=count)


async def receiver_stats(port: int) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session, session.get(f"http://{HOST}:{port}/stats") as response:
        stats: dict[str, Any] = await response.json()
        return stats


def timeout_for(items: int) -> float:
    return 60.0 + items / 50


def run_delivery(deliveries: int, single: int, run: str, profile: Path | None = None) -> list[Measurement]:
    """One repeat: the no-op reference, then subgate's worker on deliveries spread over
    `SPREAD_ENDPOINTS` endpoints, then on `single` deliveries to one endpoint."""
    with tempfile.TemporaryDirectory(prefix="subgate-bench-delivery-") as scratch:
        root = Path(scratch)
        noop = _measure_noop(root, deliveries)
        spread = _measure_worker(root / "spread", deliveries, SPREAD_ENDPOINTS, f"spread-{run}", profile)
        one = _measure_worker(root / "single", single, 1, f"single-{run}", profile)
    rate_target = Target(">=", RATE_TARGET, f"≥ {RATE_TARGET:,.0f}/s")
    return [
        Measurement(
            "delivery.noop.rate",
            "Delivery reference, arq no-op jobs, one arq worker (jobs/s)",
            "/s",
            noop.per_second,
            note="reference",
        ),
        Measurement(
            "delivery.worker.rate",
            f"Delivery, one `subgate worker`, {SPREAD_ENDPOINTS} endpoints (notifications/s)",
            "/s",
            spread.window.per_second,
            rate_target,
        ),
        Measurement(
            "delivery.worker.ratio",
            f"Delivery ratio, `subgate worker` ({SPREAD_ENDPOINTS} endpoints) / arq no-op",
            "x",
            spread.window.per_second / noop.per_second,
            Target(">=", RATIO_TARGET, f"≥ {RATIO_TARGET}x arq no-op"),
        ),
        Measurement(
            "delivery.worker.spawn_to_done",
            f"Delivery, worker spawn to all {deliveries:,} recorded ({SPREAD_ENDPOINTS} endpoints)",
            "s",
            spread.spawn_to_done,
        ),
        Measurement(
            "delivery.worker.cpu",
            f"Delivery, CPU per notification, `subgate worker` ({SPREAD_ENDPOINTS} endpoints)",
            "ms",
            spread.cpu_ms,
        ),
        Measurement(
            "delivery.single.rate",
            "Delivery, one `subgate worker`, all to one endpoint (notifications/s)",
            "/s",
            one.window.per_second,
            rate_target,
        ),
        Measurement("rss.worker", RSS_WORKER_LABEL, "MB", max(spread.rss_mb, one.rss_mb), rss_target()),
    ]


def _measure_noop(root: Path, jobs: int) -> Window:
    result_file = root / "noop.json"
    with EmbeddedRedis(root / "redis-noop") as redis:
        drive(enqueue_noop_jobs(redis.url, jobs))
        argv = module_command("noop_worker", str(jobs), str(result_file))
        env = {**child_env(), REDIS_URL_VARIABLE: redis.url}
        with Child("arq no-op worker", argv, env=env, cwd=ROOT, log=root / "noop.log") as worker:
            code = worker.wait_exit(timeout_for(jobs))
            if code != 0:
                raise BenchmarkError(f"the no-op worker exited with {code}\n{worker.log_tail()}")
    return window(json.loads(result_file.read_text()), jobs, "no-op jobs")


@dataclass(frozen=True, slots=True)
class _WorkerRun:
    window: Window  # first to last arrival at the receiver
    spawn_to_done: float  # from spawning the worker until every delivery was recorded
    cpu_ms: float  # the worker's CPU time per notification (sending it, recording its outcome)
    rss_mb: float


def delivery_rate(root: Path, deliveries: int, name: str, data_dir: Path | None = None) -> float:
    """Notifications/s of one `subgate worker` over `SPREAD_ENDPOINTS` endpoints, measured as
    above on `data_dir` (a fresh one under `root` by default); every delivery must succeed."""
    return _measure_worker(root, deliveries, SPREAD_ENDPOINTS, name, None, data_dir).window.per_second


def _measure_worker(
    root: Path,
    deliveries: int,
    endpoints: int,
    name: str,
    profile: Path | None,
    data_dir: Path | None = None,
) -> _WorkerRun:
    root.mkdir()
    receiver_port = free_port()
    receiver_argv = module_command("receiver", str(receiver_port))
    with (
        EmbeddedRedis(root / "redis") as redis,
        Child("receiver", receiver_argv, env=child_env(), cwd=ROOT, log=root / "receiver.log") as receiver,
    ):
        receiver.wait_listening(receiver_port)
        env = subgate_env(data_dir or root / "data", redis.url, allow_private_targets="true")
        settings = load_settings(env, dotenv=None)
        target = f"http://{HOST}:{receiver_port}/hooks"
        merchants = drive(_prepare(settings, redis.url, target, deliveries, endpoints))
        with Child(
            "subgate worker", subgate_command("worker"), env=env, cwd=root, log=root / "worker.log"
        ) as worker:
            try:
                # CPU time and profiles leave the interpreter's start-up out: from here on it
                # delivers (the few sent meanwhile are not counted against the CPU time).
                worker.wait_logged("worker_started")
                cpu, sent = worker.cpu_seconds(), drive(receiver_stats(receiver_port))["count"]
                with maybe_profile(profile, f"delivery-worker-{name}", worker.pid):
                    arrived = drive(_wait_arrived(receiver_port, deliveries, worker))
                cpu = worker.cpu_seconds() - cpu
                done = drive(_wait_recorded(settings, redis.url, merchants, deliveries, worker))
            except BenchmarkError as error:
                raise BenchmarkError(f"{error}\n{worker.log_tail()}") from None
            worker.check_alive()
            worker.stop()
            receiver.check_alive()
            return _WorkerRun(
                window=arrived,
                spawn_to_done=done - worker.started_at,
                cpu_ms=cpu * 1000 / max(1, arrived.arrived - sent),
                rss_mb=worker.peak_rss_mb,
            )


async def _prepare(
    settings: Settings, redis_url: str, target: str, deliveries: int, endpoints: int
) -> list[str]:
    """`endpoints` merchants with one endpoint each at `target`, and `deliveries` pending
    deliveries made by the real fan-out, the merchants taking turns (so that each claimed
    batch spreads over them). Returns the merchants' ids."""
    deps = await build(settings, redis_url=redis_url)
    try:
        await migrate(deps.store)
        merchants = []
        for number in range(endpoints):
            merchant, _ = await deps.admin.create_merchant(f"Benchmark merchant {number}")
            await deps.gateway.notifications.create_endpoint(merchant.id, NewEndpoint(url=target))
            merchants.append(merchant.id)
        await _store_messages(deps, merchants, deliveries)
        made = 0
        while batch := await deps.worker.notifications.dispatch_pending(limit=_INSERT_BATCH):
            made += batch
        if made != deliveries:
            raise BenchmarkError(f"the fan-out made {made} deliveries, expected {deliveries}")
        return merchants
    finally:
        await deps.close()


async def _store_messages(deps: Deps, merchants: list[str], count: int) -> None:
    now = datetime.now(UTC)
    txn = StoreTxn(deps.store)
    for start in range(0, count, _INSERT_BATCH):
        numbers = range(start, min(count, start + _INSERT_BATCH))
        messages = [_message(merchants[number % len(merchants)], now) for number in numbers]

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


async def _wait_arrived(receiver_port: int, deliveries: int, worker: Child) -> Window:
    """Poll the receiver (not the store: reading SQLite would slow the writer) until all arrived."""
    deadline = time.monotonic() + timeout_for(deliveries)
    while (stats := await receiver_stats(receiver_port))["count"] < deliveries:
        _check_progress(worker, deadline, f"{stats['count']} of {deliveries} deliveries arrived")
        await asyncio.sleep(_POLL_S)
    return window(stats, deliveries, "deliveries")


async def _wait_recorded(
    settings: Settings, redis_url: str, merchants: list[str], deliveries: int, worker: Child
) -> float:
    """Poll the store until every delivery is `succeeded`; returns when. Anything else fails."""
    deadline = time.monotonic() + timeout_for(deliveries)
    deps = await build(settings, redis_url=redis_url)
    try:
        notifications = deps.gateway.notifications
        first = PageRequest(limit=1)
        pending = DeliveryFilter(status=DeliveryStatus.PENDING)
        for merchant_id in merchants:
            while (await notifications.list_deliveries(merchant_id, pending, first)).items:
                _check_progress(worker, deadline, "some deliveries are still pending")
                await asyncio.sleep(_POLL_S)
        done = time.monotonic()
        for merchant_id in merchants:
            for status in (DeliveryStatus.FAILED, DeliveryStatus.DEAD):
                page = await notifications.list_deliveries(merchant_id, DeliveryFilter(status=status), first)
                if page.items:
                    raise BenchmarkError(f"a delivery is {status.value}: {page.items[0]}")
    finally:
        await deps.close()
    return done


def _check_progress(worker: Child, deadline: float, situation: str) -> None:
    worker.check_alive()
    if time.monotonic() > deadline:
        raise BenchmarkError(f"timed out: {situation}")
