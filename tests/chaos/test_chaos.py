"""Chaos: provider traffic through real processes that are killed, restarted and cut off from Redis.

`subgate serve` and several `subgate worker`s run on one SQLite data dir with a real Redis.
Stripe and Polar events of a few hundred subscriptions are posted shuffled, a fifth of them
twice, by a sender that retries until it gets a 2xx, as providers do. Meanwhile workers are
SIGKILLed at random moments (and replaced), the server is SIGKILLed and started again, Redis
is flushed, and Redis is SIGKILLed and started again; the merchant's endpoint fails a share
of requests and leaves others hanging past the delivery timeout. Afterwards: every event is
stored once, every subscription is as its newest snapshot says, no transition was told
twice, every notification was delivered or dead-lettered, and replaying the dead letters
delivers each of them with its own webhook-id.

`SUBGATE_TEST_CHAOS_SEED` repeats a run's traffic and schedule (each run prints its seed);
`SUBGATE_TEST_CHAOS_SIZE=large` (`make chaos`) sends more events and disrupts more often.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

import httpx
import pytest

from tests.chaos.checks import check_inbound, check_notifications, check_settled, check_subscriptions
from tests.chaos.fleet import (
    FLUSH_REDIS,
    KILL_WORKER,
    RESTART_REDIS,
    RESTART_SERVER,
    Disruptions,
    Fleet,
    run_schedule,
)
from tests.chaos.receiver import Faults, FlakyReceiver, running_flaky_receiver
from tests.chaos.records import MerchantApi, Outbox, OutboxCollection, OutboxFile
from tests.chaos.scenario import deliveries, generate
from tests.chaos.sender import Connection, ProviderSimulator
from tests.support.cli import dev_env, free_port, run_cli
from tests.support.mongo import collect_abandoned_sockets, database_url, mongo_server
from tests.support.redis import CrashableRedis
from tests.support.service_processes import eventually

SEED_ENV: Final = "SUBGATE_TEST_CHAOS_SEED"
SIZE_ENV: Final = "SUBGATE_TEST_CHAOS_SIZE"
DELIVERY_TIMEOUT_S: Final = 1.0
# The merchant's endpoint: 30 % of requests fail, 5 % hang until long after the service gave up.
FAULTS: Final = Faults(error_share=0.30, hang_share=0.05, hang_seconds=3 * DELIVERY_TIMEOUT_S)
SECRETS: Final = {"stripe": "whsec_chaos_stripe_secret", "polar": "polar_whs_chaos_polar_secret"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Size:
    subscriptions: int
    events: int  # distinct provider events, at least
    workers: int  # running at once
    disruptions: Disruptions
    timeout_seconds: float  # the whole test, set-up and checks included
    duplicate_share: float = 0.2
    senders: int = 16  # provider requests in flight at once


SIZES: Final = {
    "ci": Size(
        subscriptions=200,
        events=2_000,
        workers=2,
        disruptions=Disruptions(
            worker_kills=3, server_restarts=1, redis_flushes=1, redis_restarts=1, pause_seconds=(0.1, 1.0)
        ),
        timeout_seconds=175,
    ),
    "large": Size(
        subscriptions=1_000,
        events=10_000,
        workers=3,
        disruptions=Disruptions(
            worker_kills=12, server_restarts=3, redis_flushes=2, redis_restarts=2, pause_seconds=(0.1, 1.0)
        ),
        timeout_seconds=900,
    ),
}
SIZE_NAME: Final = os.environ.get(SIZE_ENV, "").strip() or "ci"
SIZE: Final = SIZES[SIZE_NAME]

pytestmark = pytest.mark.chaos


def _seed() -> int:
    given = os.environ.get(SEED_ENV, "").strip()
    return int(given) if given else secrets.randbelow(2**31)


def _service_env(tmp_path: Path, redis_url: str) -> dict[str, str]:
    return dev_env(
        tmp_path,
        SUBGATE_REDIS_URL=redis_url,
        SUBGATE_ALLOW_PRIVATE_TARGETS="true",
        SUBGATE_DELIVERY_TIMEOUT_SECONDS=str(DELIVERY_TIMEOUT_S),
        SUBGATE_RETRY_SCHEDULE="0.2,0.5,1",  # four attempts, then a dead letter, all within the run
        SUBGATE_RATE_LIMIT="0",  # the checks page through thousands of records
    )


async def _connect(api: MerchantApi, provider: str) -> Connection:
    created = await api.post(
        "/v1/connections", {"provider": provider, "webhook_secrets": [SECRETS[provider]]}
    )
    return Connection(id=created["id"], secret=SECRETS[provider])


async def _replay_dead_letters(api: MerchantApi, receiver: FlakyReceiver, dead: list[dict[str, Any]]) -> int:
    """Replay every dead letter against the healed receiver; each must arrive under its own webhook-id."""
    replayed_at = time.monotonic()
    answer = await api.post("/v1/dead-letters/replay", {})
    assert answer["skipped"] == [], answer
    assert answer["replayed"] == len(dead), (answer["replayed"], len(dead))

    async def all_arrived_again() -> bool:
        return all(receiver.delivered_since(d["message_id"], replayed_at) for d in dead)

    await eventually(all_arrived_again, "every replayed dead letter arrived", 60, interval_seconds=0.2)

    async def all_succeeded() -> bool:
        return await api.none("/v1/dead-letters") and await api.none("/v1/deliveries", status="dead")

    await eventually(
        all_succeeded, "every replayed delivery is recorded as succeeded", 30, interval_seconds=0.2
    )
    return len(dead)


@dataclass(frozen=True, slots=True, kw_only=True)
class Topology:
    """Where the service runs: its store, and how many servers share it (the workers are the size's)."""

    store: str  # "sqlite" (a data dir's file) or "mongo" (MongoDB, the stand-in unless one is given)
    servers: int
    sizes: dict[str, Size]

    @property
    def size(self) -> Size:
        return self.sizes[SIZE_NAME]

    def describe(self) -> str:
        return f"{self.store}, {self.servers} server{'s' * (self.servers > 1)}, {self.size.workers} workers"


# Several machines: two servers behind what would be a proxy (each provider attempt goes to
# either), three workers, on one store. On SQLite they share the data directory's file (one
# machine's processes); on MongoDB, whatever server the tests have: a replica set (Docker's,
# or SUBGATE_TEST_MONGODB_URL) runs each unit of work as a transaction, the nx-27017 stand-in
# runs none, so there a worker killed between two writes of one unit leaves the first behind
# and the changes carry what is left to do (domain.subscriptions.recording).
SEVERAL_MACHINES: Final = {
    "ci": replace(SIZES["ci"], subscriptions=100, events=800, workers=3, timeout_seconds=300),
    "large": replace(SIZES["large"], workers=3, timeout_seconds=1800),
}
ONE_SERVER: Final = Topology(store="sqlite", servers=1, sizes=SIZES)
TWO_SERVERS_ONE_FILE: Final = Topology(store="sqlite", servers=2, sizes=SEVERAL_MACHINES)
TWO_SERVERS: Final = Topology(store="mongo", servers=2, sizes=SEVERAL_MACHINES)
TOPOLOGIES: Final = tuple(
    pytest.param(topology, id=name, marks=pytest.mark.timeout(topology.size.timeout_seconds))
    for name, topology in (
        ("sqlite-one-server", ONE_SERVER),
        ("sqlite-two-servers-three-workers", TWO_SERVERS_ONE_FILE),
        ("mongo-two-servers-three-workers", TWO_SERVERS),
    )
)


@contextlib.contextmanager
def _store_for(topology: Topology, tmp_path: Path) -> Iterator[tuple[dict[str, str], Outbox]]:
    """The environment that points the processes at the store, and its outbox reader."""
    if topology.store == "sqlite":
        yield {}, OutboxFile(tmp_path / "data" / "subgate.db")
        return
    with mongo_server() as target:
        url = database_url(target.url, f"subgate_chaos_{uuid.uuid4().hex[:12]}")
        outbox = OutboxCollection(url)
        try:
            yield {"SUBGATE_DATABASE_URL": url}, outbox
        finally:
            outbox.close()
            collect_abandoned_sockets()


@pytest.mark.parametrize("topology", TOPOLOGIES)
async def test_chaos_loses_nothing_and_applies_nothing_twice(
    tmp_path: Path, chaos_summary: Callable[[str], None], topology: Topology
) -> None:
    seed = _seed()
    size = topology.size
    where = topology.describe()
    chaos_summary(
        f"chaos ({SIZE_NAME}; {where}): seed {seed}; {SEED_ENV}={seed} repeats its traffic and schedule"
    )
    started = time.monotonic()
    scenario = generate(
        random.Random(f"{seed}/traffic"), subscriptions=size.subscriptions, events=size.events
    )
    sent = deliveries(scenario, random.Random(f"{seed}/order"), size.duplicate_share)
    with (
        _store_for(topology, tmp_path) as (store_env, outbox),
        CrashableRedis(tmp_path / "redis") as redis_server,
        contextlib.ExitStack() as stack,
    ):
        env = _service_env(tmp_path, redis_server.url) | store_env
        created = json.loads(await run_cli("merchants", "create", "Chaos merchant", env=env, cwd=tmp_path))
        ports = [int(env["SUBGATE_PORT"]), *(free_port() for _ in range(topology.servers - 1))]
        fleet = Fleet(env=env, cwd=tmp_path, ports=ports, stack=stack)
        stack.callback(
            lambda: chaos_summary(f"chaos ({SIZE_NAME}; {where}) disruptions: {', '.join(fleet.timeline)}")
        )
        fleet.start_servers()
        for _ in range(size.workers):
            fleet.start_worker()
        await fleet.until_serving()
        auth = {"authorization": f"Bearer {created['api_key']}"}
        async with (
            running_flaky_receiver(FAULTS, random.Random(f"{seed}/receiver")) as receiver,
            httpx.AsyncClient(base_url=fleet.base_urls[0], headers=auth, timeout=30) as client,
        ):
            api = MerchantApi(client)
            connections = {provider: await _connect(api, provider) for provider in ("stripe", "polar")}
            endpoint = await api.post("/v1/endpoints", {"url": receiver.url})
            receiver.secret = endpoint["secret"]
            simulator = ProviderSimulator(
                fleet.base_urls,
                connections,
                concurrency=size.senders,
                rng=random.Random(f"{seed}/sender"),
                deadline_seconds=size.timeout_seconds / 2,
            )

            # Traffic and disruptions at once.
            await asyncio.gather(
                simulator.send_all(sent),
                run_schedule(
                    size.disruptions,
                    fleet,
                    redis_server,
                    random.Random(f"{seed}/schedule"),
                    simulator.progress,
                ),
            )
            sent_in = time.monotonic() - started
            assert not fleet.crashed(), [p.log_tail() for p in fleet.crashed()]

            async def inbound_done() -> bool:
                return await api.none("/v1/inbound-events", status="accepted")

            await eventually(inbound_done, "every inbound event is processed", 90, interval_seconds=0.25)
            processed_in = time.monotonic() - started

            # The endpoint recovers; retries drain and nothing may stay pending.
            receiver.heal()

            async def drained() -> bool:
                return (
                    await outbox.undispatched() == 0
                    and await api.none("/v1/deliveries", status="pending")
                    and await api.none("/v1/deliveries", status="failed")
                )

            await eventually(drained, "every delivery succeeded or died", 60, interval_seconds=0.25)
            outbox_ids = await outbox.message_ids()
            settled = await check_settled(api, receiver, outbox_ids)
            replayed = await _replay_dead_letters(api, receiver, settled.dead)

            statuses = await check_inbound(api, scenario, {p: c.id for p, c in connections.items()})
            subscriptions = await check_subscriptions(api, scenario)
            missing = outbox_ids - set(receiver.delivered)
            assert not missing, f"{len(missing)} notifications never arrived, e.g. {sorted(missing)[:5]}"
            told = check_notifications(receiver, scenario)
            assert (receiver.bad_signatures, receiver.foreign_ids) == (0, 0)
            assert not fleet.crashed(), [p.log_tail() for p in fleet.crashed()]
            await fleet.stop()
            handed_back = fleet.leases_handed_back()

    done, stats = fleet.done, simulator.stats
    parts = [
        f"chaos ({SIZE_NAME}; {where}) seed {seed}: {len(scenario.stories)} subscriptions"
        f" ({len(scenario.by_provider('stripe'))} Stripe, {len(scenario.by_provider('polar'))} Polar)",
        f"{len(scenario.events)} events sent {len(sent)} times"
        f" ({len(sent) - len(scenario.events)} duplicates) in {stats.posts} posts ({stats.retries} retried)",
        f"stored {statuses.total()} once each ({statuses['applied']} applied, {statuses['ignored']} ignored)",
        f"{subscriptions} subscriptions as their newest snapshot",
        f"told {told.state_changes} state changes, {told.payments} payments,"
        f" {told.reminders} trial reminders, none twice",
        f"{len(outbox_ids)} notifications in {receiver.requests} requests ({receiver.errors} errors,"
        f" {receiver.hung} hung): {settled.webhooks['succeeded']} delivered, {settled.webhooks['dead']} dead"
        f" letters, {replayed} replayed and delivered, {receiver.redelivered} sent again after a 2xx;"
        f" {settled.emails['succeeded']} emails",
        f"{done[KILL_WORKER]} worker SIGKILLs ({handed_back} leases handed back),"
        f" {done[RESTART_SERVER]} server restart(s), {done[FLUSH_REDIS]} Redis FLUSHALL,"
        f" {done[RESTART_REDIS]} Redis restart",
        f"sent by {sent_in:.0f} s, processed by {processed_in:.0f} s,"
        f" done in {time.monotonic() - started:.0f} s",
    ]
    chaos_summary("; ".join(parts))
