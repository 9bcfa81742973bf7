"""How the store outage tests run: the service as a user runs it, work of every kind pending
when the store goes, and what must hold during the outage and after it.

The outages themselves (SQLite locked or unwritable, MongoDB stopped) are in
`test_store_outage_sqlite` and `test_store_outage_mongo`; this module has no tests of its own.

Real processes (`subgate serve`, `subgate worker`) on their own data dir, a real Redis and a
receiver. Before the outage some events are applied with their deliveries failing (the
receiver answers 503), one delivery is in flight (the receiver holds the request: a worker
holds its lease), and some events are accepted while the workers are paused (SIGSTOP), so work
of every kind is pending when the store goes. During it, inbound events and a REST write answer
503 with the error body within the store's own wait, and are not stored; every claiming loop of
every worker fails, logs and backs off, and the attempt that was in flight waits to be
recorded. Each outage lasts longer than a worker takes to be presumed dead. Afterwards the
provider sends the refused events again and they are accepted (not `duplicate`); every event is
applied and its notification delivered and recorded; every worker's heartbeat is current again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
from aiohttp import web

from integrations.providers.stripe.samples import signed_headers, subscription_event
from tests.support.cli import dev_env, free_port, run_cli, wait_until_healthy
from tests.support.service_processes import STRIPE_SECRET, SubgateProcess, connect_stripe, eventually

# Every request refused during the outage is answered within the store's own wait plus this.
ANSWER_SLACK_S = 8.0
RETRY_EVERY_SECOND = ",".join(["1"] * 30)
# Every outage lasts longer than a silent worker takes to be presumed dead (WorkerConfig's
# 5 s), so that afterwards each worker finds the others' heartbeats stale.
MIN_OUTAGE_S = 8.0
# One where every write fails at once lasts longer than a worker's quick retries of the outcome
# it could not record (eight, about 11 s), so that only its patience keeps the outcome.
QUICK_FAILURES_OUTAGE_S = 15.0
# The worker's loops that claim (write) on every round; a failed claim is logged as
# `claim_failed` with the loop's name. The outbox loop only reads until it has work.
PUMPS = ("inbound", "deliveries")
IN_FLIGHT = "a3"  # its delivery is in flight when the store goes
STOP_DEADLINE_S = 30.0


class Outage(Protocol):
    """One way for the store to become unavailable, and how the test looks into the store."""

    reads_work: bool  # whether reads (REST GETs, readiness) still succeed during the outage
    wait_s: float  # how long the store itself waits before an operation fails
    lasts_s: float  # how long the outage lasts at least

    def begin(self, processes: Sequence[SubgateProcess]) -> None: ...

    def end(self, processes: Sequence[SubgateProcess]) -> None: ...

    def no_writer(self) -> contextlib.AbstractContextManager[None]:
        """Keep every process from writing to the store during the `with` block (entered once
        the writer of the moment, if any, is done)."""
        ...

    def provider_event_ids(self) -> set[str]:
        """The provider event ids of every stored inbound event."""
        ...

    def heartbeats(self) -> dict[str, tuple[bool, str]]:
        """Each registered worker: whether it is alive, and its last heartbeat."""
        ...


# --------------------------------------------------------------------------- processes


@asynccontextmanager
async def piped_subgate(command: str, env: dict[str, str], cwd: Path) -> AsyncIterator[SubgateProcess]:
    """`subgate COMMAND` whose output reaches its log through a pipe; SIGTERMed on exit, exit 0.

    Stopped from a thread: the event loop goes on serving the receiver meanwhile, which a
    stopping worker may still be sending to.
    """
    running, copier = _start(command, env, cwd)
    process = running.process
    assert process.stdout is not None
    try:
        yield running
    finally:
        code = await asyncio.to_thread(running.stop) if running.alive else process.returncode
        copier.join(timeout=STOP_DEADLINE_S)
        process.stdout.close()
        assert code == 0, f"subgate {command} exited {code}: {running.log_tail()}"


def _start(command: str, env: dict[str, str], cwd: Path) -> tuple[SubgateProcess, threading.Thread]:
    log = cwd / f"{command}-{time.monotonic_ns()}.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "subgate", command],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    copier = threading.Thread(target=_copy, args=(process.stdout, log), daemon=True)
    copier.start()
    return SubgateProcess(command=command, process=process, log=log), copier


def _copy(source: Any, log: Path) -> None:
    with log.open("ab") as sink:
        for line in iter(source.readline, b""):
            sink.write(line)
            sink.flush()


def pause(processes: Sequence[SubgateProcess], outage: Outage) -> None:
    """SIGSTOP the processes, at a moment when none of them holds the store's write lock."""
    with outage.no_writer():
        for one in processes:
            os.kill(one.process.pid, signal.SIGSTOP)


def resume(processes: Sequence[SubgateProcess]) -> None:
    for one in processes:
        os.kill(one.process.pid, signal.SIGCONT)


# --------------------------------------------------------------------------- the scenario


@dataclass
class Provider:
    """Sends signed Stripe events the way Stripe does; each event has its own subscription."""

    client: httpx.AsyncClient
    webhook_url: str

    async def send(self, name: str) -> httpx.Response:
        body = subscription_event(
            "customer.subscription.created", event_id=f"evt_{name}", sub_id=f"sub_{name}"
        )
        headers = signed_headers(body, STRIPE_SECRET, int(time.time()))
        return await self.client.post(self.webhook_url, content=body, headers=headers)

    async def accepted(self, names: Sequence[str]) -> None:
        answers = await asyncio.gather(*(self.send(name) for name in names))
        for answer in answers:
            assert answer.status_code == 200, answer.text
            assert answer.json() == {"status": "accepted"}


@dataclass
class Recipient:
    """The merchant's endpoint: answers 503 until told to recover; the first request for each
    subscription in `held` waits for `release` (a delivery in flight) and is then taken."""

    held: set[str]
    url: str = ""
    healthy: bool = False
    release: asyncio.Event = field(default_factory=asyncio.Event)
    requests: list[str] = field(default_factory=list)  # the subscription of each request
    taken: set[str] = field(default_factory=set)  # subscriptions whose notification got a 200

    async def handle(self, request: web.Request) -> web.Response:
        data = json.loads(await request.read())["data"]["subscription"]
        subscription = str(data["provider_subscription_id"])
        self.requests.append(subscription)
        if subscription in self.held:
            self.held.discard(subscription)
            await self.release.wait()
        elif not self.healthy:
            return web.Response(status=503, text="down for maintenance")
        self.taken.add(subscription)
        return web.Response(status=200, text="ok")


@asynccontextmanager
async def running_recipient(held: set[str]) -> AsyncIterator[Recipient]:
    recipient = Recipient(held=set(held))
    app = web.Application()
    app.router.add_post("/hooks", recipient.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    recipient.url = f"http://127.0.0.1:{port}/hooks"
    try:
        yield recipient
    finally:
        recipient.release.set()
        await runner.cleanup()


Counts = dict[int, Counter[str]]


def counts(process: SubgateProcess) -> Counter[str]:
    """How many times the process logged each event so far; a failed claim counts under its loop."""
    seen: Counter[str] = Counter()
    for line in process.log.read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if isinstance(entry, dict):
                event = entry.get("event")
                seen[str(entry.get("pump")) if event == "claim_failed" else str(event)] += 1
    return seen


def assert_unavailable(answer: httpx.Response) -> None:
    assert answer.status_code == 503, answer.text
    error = answer.json()["error"]
    assert error["type"] == "service_unavailable"
    assert error["message"]


@asynccontextmanager
async def running_service(
    env: dict[str, str], cwd: Path, workers: int
) -> AsyncIterator[tuple[SubgateProcess, list[SubgateProcess]]]:
    async with contextlib.AsyncExitStack() as stack:
        serve = await stack.enter_async_context(piped_subgate("serve", env, cwd))
        started = [await stack.enter_async_context(piped_subgate("worker", env, cwd)) for _ in range(workers)]
        await wait_until_healthy(f"http://127.0.0.1:{env['SUBGATE_PORT']}")
        for worker in started:

            async def ready(worker: SubgateProcess = worker) -> bool:
                return worker.logged("worker_started")

            await eventually(ready, "the worker has started")
        yield serve, started


@dataclass
class Scenario:
    outage: Outage
    serve: SubgateProcess
    workers: list[SubgateProcess]
    client: httpx.AsyncClient
    provider: Provider
    recipient: Recipient

    @property
    def processes(self) -> list[SubgateProcess]:
        return [self.serve, *self.workers]

    def assert_alive(self) -> None:
        assert all(one.alive for one in self.processes), [one.log_tail() for one in self.processes]

    async def before(self) -> list[str]:
        """Work of every kind pending: events applied whose deliveries failed and wait for their
        retry, one delivery in flight (its worker holds the lease), and events accepted but not
        applied yet (the workers are paused for them). Returns the events; the workers are left
        paused."""
        applied = ["a1", "a2", IN_FLIGHT]
        await self.provider.accepted(applied)

        async def attempted() -> bool:
            if len(self.recipient.requests) < len(applied) or self.recipient.held:
                return False
            failed = await self.client.get("/v1/deliveries", params={"status": "failed"})
            return len(failed.json()["data"]) == len(applied) - 1

        await eventually(attempted, "the first deliveries failed and wait, one is still in flight")
        pause(self.workers, self.outage)
        accepted = ["b1", "b2", "b3"]
        await self.provider.accepted(accepted)
        return [*applied, *accepted]

    async def during(self, refused: Sequence[str], began: float, logged: Counts) -> None:
        """Refused within the store's own wait, with nothing of them stored; the workers keep
        trying: each of their loops fails and backs off, and the attempt that was in flight
        waits to be recorded."""
        answers = await asyncio.gather(
            *(self.provider.send(name) for name in refused),
            self.client.post("/v1/endpoints", json={"url": self.recipient.url}),
        )
        waited = time.monotonic() - began
        assert waited < self.outage.wait_s + ANSWER_SLACK_S, f"the refusals waited in line ({waited:.1f} s)"
        for answer in answers:
            assert_unavailable(answer)
        listed = await self.client.get("/v1/endpoints")
        if self.outage.reads_work:
            assert listed.status_code == 200, listed.text
            assert not self.outage.provider_event_ids() & {f"evt_{name}" for name in refused}
        else:
            assert_unavailable(listed)
        self.recipient.release.set()  # the attempt in flight ends: 200, to be recorded

        async def waiting_it_out() -> bool:
            now = {one.process.pid: counts(one) for one in self.workers}
            every_loop = all(
                now[pid][what] > logged[pid][what] for pid in now for what in (*PUMPS, "heartbeat_failed")
            )
            retried = sum(now[pid]["record_retry"] - logged[pid]["record_retry"] for pid in now)
            return every_loop and retried > 0 and time.monotonic() - began >= self.outage.lasts_s

        await eventually(waiting_it_out, "every loop of every worker failed and backed off", 60)
        self.assert_alive()

    async def after(self, refused: Sequence[str], pending: Sequence[str], ended: str) -> None:
        """The refusals left nothing behind and their retries are new events; nothing is lost."""
        assert not self.outage.provider_event_ids() & {f"evt_{name}" for name in refused}
        await self.provider.accepted(refused)
        everything = {f"sub_{name}" for name in (*pending, *refused)}

        async def all_delivered() -> bool:
            return self.recipient.taken >= everything

        await eventually(all_delivered, "every event was applied and its notification delivered", 90)
        assert self.recipient.taken == everything
        for status in ("accepted", "failed"):
            page = await self.client.get("/v1/inbound-events", params={"status": status})
            assert page.status_code == 200, page.text
            assert page.json()["data"] == [], status

        async def all_recorded() -> bool:
            for status in ("pending", "failed", "dead"):
                page = await self.client.get("/v1/deliveries", params={"status": status})
                assert page.status_code == 200, page.text
                if page.json()["data"]:
                    return False
            return True

        await eventually(all_recorded, "every delivery is recorded as succeeded")

        async def heartbeats_current() -> bool:
            beats = self.outage.heartbeats()
            return len(beats) == len(self.workers) and all(
                alive and at >= ended for alive, at in beats.values()
            )

        await eventually(heartbeats_current, "every worker's heartbeat is current again")
        self.assert_alive()


async def ride_out(outage: Outage, env: dict[str, str], cwd: Path, *, workers: int = 1) -> None:
    created = json.loads(await run_cli("merchants", "create", "Outage test", env=env, cwd=cwd))
    base_url = f"http://127.0.0.1:{env['SUBGATE_PORT']}"
    auth = {"authorization": f"Bearer {created['api_key']}"}
    async with (
        running_recipient({f"sub_{IN_FLIGHT}"}) as recipient,
        running_service(env, cwd, workers) as (serve, running),
        httpx.AsyncClient(base_url=base_url, headers=auth, timeout=60) as client,
    ):
        provider = Provider(client, await connect_stripe(client))
        endpoint = await client.post("/v1/endpoints", json={"url": recipient.url})
        assert endpoint.status_code == 201, endpoint.text
        scenario = Scenario(outage, serve, running, client, provider, recipient)

        pending = await scenario.before()
        refused = ["c1", "c2", "c3"]
        logged = {one.process.pid: counts(one) for one in running}
        outage.begin(scenario.processes)
        try:
            began = time.monotonic()
            resume(running)
            await scenario.during(refused, began, logged)
            recipient.healthy = True
        finally:
            # Also when the test failed: the processes must get their store back to stop cleanly.
            resume(running)
            recipient.release.set()
            outage.end(scenario.processes)
        ended = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        await scenario.after(refused, pending, ended)


def service_env(tmp_path: Path, redis_url: str, **settings: str) -> dict[str, str]:
    return dev_env(
        tmp_path,
        SUBGATE_REDIS_URL=redis_url,
        SUBGATE_ALLOW_PRIVATE_TARGETS="true",
        SUBGATE_RETRY_SCHEDULE=RETRY_EVERY_SECOND,
        # The delivery in flight is held for the first part of the outage: it must not time out.
        SUBGATE_DELIVERY_TIMEOUT_SECONDS="60",
        **settings,
    )
