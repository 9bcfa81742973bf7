"""The scheduler really runs in the worker that `subgate worker` and `subgate dev` run, with Redis or without.

The supervised arq Worker of `subgate.runtime` (the very function both commands start)
runs against a real Redis for a few seconds, twice over (two workers on one store and
Redis): subscriptions whose expiry comes due on the injected clock expire through the cron
job alone, one of them after the workers started (so by a later tick, not the run each makes
as it starts), each once. Then Redis is killed: what comes due meanwhile still moves (the
worker runs the scheduler itself), and once Redis is back the cron takes over again.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from domain.subscriptions.external.catalog import NewCustomer, NewPlan
from domain.subscriptions.external.management import NewSubscription
from domain.subscriptions.model import Interval
from domain.subscriptions.state_machine import SubscriptionStatus
from integrations.telemetry.tracing import Telemetry
from subgate.bootstrap import build, migrate
from subgate.settings import load_settings
from subgate.supervise import supervised_arq_worker
from tests.support.fakes import FakeClock
from tests.support.mongo import collect_abandoned_sockets
from tests.support.redis import CrashableRedis
from tests.support.service_processes import eventually, wait_for_arq_worker

DEADLINE_SECONDS = 15.0


async def test_the_cron_job_moves_what_is_due(tmp_path: Path, redis_url: str) -> None:
    settings = load_settings(
        {"SUBGATE_DATA_DIR": str(tmp_path), "SUBGATE_DATABASE_URL": f"sqlite:///{tmp_path / 'cron.db'}"},
        dotenv=None,
    )
    clock = FakeClock(datetime.now(UTC))
    first = await build(settings, redis_url=redis_url, telemetry=Telemetry("subgate-test"), clock=clock)
    second = await build(settings, redis_url=redis_url, telemetry=Telemetry("subgate-test"), clock=clock)
    stop = asyncio.Event()
    try:
        await first.redis.flushdb()
        await migrate(first.store)
        merchant, _ = await first.admin.create_merchant("Cron merchant")
        external = first.gateway.subscriptions
        customer = await external.customers.create(merchant.id, NewCustomer(email="ada@example.com"))
        plan = await external.plans.create(
            merchant.id, NewPlan(name="Basic", amount=900, currency="usd", interval=Interval.MONTH)
        )

        async def expired_soon() -> str:
            sub = await external.create(
                merchant.id, NewSubscription(customer_id=customer.id, plan_id=plan.id)
            )
            clock.advance(timedelta(hours=23))
            return sub.id

        async def all_expired(ids: list[str]) -> None:
            async def done() -> bool:
                found = [await external.get(merchant.id, i) for i in ids]
                return all(s.status == SubscriptionStatus.EXPIRED for s in found)

            await eventually(done, "the cron job expires the subscriptions", DEADLINE_SECONDS)

        ids = [await expired_soon()]
        workers = [asyncio.create_task(supervised_arq_worker(deps.worker, stop)) for deps in (first, second)]
        await all_expired(ids)  # perhaps by the run each worker makes as it starts
        ids.append(await expired_soon())
        await all_expired(ids)  # by a later tick: the cron keeps running
        stop.set()
        await asyncio.gather(*workers)

        async with first.store.session() as session:
            expired = await session.find("outbox", {"event_type": "subscription.expired"}, limit=10)
        assert sorted(m["subject_id"] for m in expired) == sorted(ids)
    finally:
        stop.set()
        await first.close()
        await second.close()
        collect_abandoned_sockets()


async def test_the_scheduler_keeps_time_while_redis_is_away(tmp_path: Path) -> None:
    settings = load_settings(
        {"SUBGATE_DATA_DIR": str(tmp_path), "SUBGATE_DATABASE_URL": f"sqlite:///{tmp_path / 'away.db'}"},
        dotenv=None,
    )
    clock = FakeClock(datetime.now(UTC))
    stop = asyncio.Event()
    with CrashableRedis(tmp_path / "redis") as redis_server:
        deps = await build(
            settings, redis_url=redis_server.url, telemetry=Telemetry("subgate-test"), clock=clock
        )
        try:
            await migrate(deps.store)
            merchant, _ = await deps.admin.create_merchant("Outage merchant")
            external = deps.gateway.subscriptions
            customer = await external.customers.create(merchant.id, NewCustomer(email="ada@example.com"))
            plan = await external.plans.create(
                merchant.id, NewPlan(name="Basic", amount=900, currency="usd", interval=Interval.MONTH)
            )

            async def due_now() -> str:
                sub = await external.create(
                    merchant.id, NewSubscription(customer_id=customer.id, plan_id=plan.id)
                )
                clock.advance(timedelta(hours=23))  # a pending subscription expires after that
                return sub.id

            async def expired(subscription_id: str) -> None:
                async def done() -> bool:
                    found = await external.get(merchant.id, subscription_id)
                    return found.status == SubscriptionStatus.EXPIRED

                await eventually(done, "the scheduler expires the subscription", DEADLINE_SECONDS)

            worker = asyncio.create_task(supervised_arq_worker(deps.worker, stop))
            await wait_for_arq_worker(redis_server.url)

            redis_server.kill()
            during = await due_now()
            await expired(during)  # no cron can run now: the worker ran the scheduler itself

            redis_server.start()  # same port, as a process manager would bring it back
            await wait_for_arq_worker(redis_server.url)
            after = await due_now()
            await expired(after)
            stop.set()
            await worker

            async with deps.store.session() as session:
                messages = await session.find("outbox", {"event_type": "subscription.expired"}, limit=10)
            assert sorted(m["subject_id"] for m in messages) == sorted([during, after])
        finally:
            stop.set()
            await deps.close()
            collect_abandoned_sockets()
