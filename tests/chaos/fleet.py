"""The service's processes under chaos: one or more `subgate serve`, several `subgate worker`s and Redis.

`run_schedule` disrupts them at random moments of the traffic: a worker SIGKILLed (and
another started in its place), a server SIGKILLed and started again on its port, Redis
flushed, Redis SIGKILLed and started again on its port after a short outage. The moments are
points of the traffic's progress (a share of the events acknowledged), so the disruptions
spread over the whole run however fast or slow the machine is.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import redis.asyncio

from tests.support.cli import wait_until_healthy
from tests.support.redis import CrashableRedis
from tests.support.service_processes import SubgateProcess, eventually, running_subgate

KILL_WORKER: Final = "worker SIGKILL"
RESTART_SERVER: Final = "server SIGKILL + start"
FLUSH_REDIS: Final = "Redis FLUSHALL"
RESTART_REDIS: Final = "Redis SIGKILL + start"
REDIS_OUTAGE_S: Final = (0.5, 1.5)
# Where in the traffic disruptions happen: after this share of it was acknowledged, at the earliest.
PROGRESS_SPAN: Final = (0.05, 1.0)
PROGRESS_DEADLINE_S: Final = 600.0  # the sender's own deadline fails the test first
SERVER_START_DEADLINE_S: Final = 60.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Disruptions:
    worker_kills: int
    server_restarts: int
    redis_flushes: int
    redis_restarts: int
    pause_seconds: tuple[float, float]  # after its moment of the traffic is reached, drawn at random

    def actions(self, rng: random.Random) -> list[str]:
        actions = (
            [KILL_WORKER] * self.worker_kills
            + [RESTART_SERVER] * self.server_restarts
            + [FLUSH_REDIS] * self.redis_flushes
            + [RESTART_REDIS] * self.redis_restarts
        )
        rng.shuffle(actions)
        return actions


@dataclass
class Fleet:
    """Every process started; the ones still running are stopped by `stack` (and must exit 0).

    Each server listens on a port of its own (`ports`), as several machines behind a proxy
    would; a restarted server comes back on the same port.
    """

    env: dict[str, str]
    cwd: Path
    ports: list[int]
    stack: contextlib.ExitStack
    servers: list[SubgateProcess] = field(default_factory=list)  # every server started, killed ones too
    current: dict[int, SubgateProcess] = field(default_factory=dict)  # port -> its running server
    workers: list[SubgateProcess] = field(default_factory=list)
    killed: list[SubgateProcess] = field(default_factory=list)
    done: Counter[str] = field(default_factory=Counter)
    timeline: list[str] = field(default_factory=list)
    _started: float = field(default_factory=time.monotonic)

    @property
    def base_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.ports]

    def start_servers(self) -> None:
        for port in self.ports:
            self.start_server(port)

    def start_server(self, port: int) -> None:
        env = self.env | {"SUBGATE_PORT": str(port)}
        server = self.stack.enter_context(running_subgate("serve", env, self.cwd))
        self.servers.append(server)
        self.current[port] = server

    async def until_serving(self) -> None:
        """Wait for every current server's /healthz; a server that never gets there fails the run
        with its own last log lines (and whether it is still running) in the message."""
        for port, server in self.current.items():
            try:
                await wait_until_healthy(f"http://127.0.0.1:{port}", SERVER_START_DEADLINE_S)
            except TimeoutError:
                state = "still running" if server.alive else "exited"
                problem = f"subgate serve not healthy after {SERVER_START_DEADLINE_S:.0f} s ({state})"
                raise AssertionError(f"{problem}: {server.log_tail()}") from None

    def start_worker(self) -> None:
        self.workers.append(self.stack.enter_context(running_subgate("worker", self.env, self.cwd)))

    def live_workers(self) -> list[SubgateProcess]:
        return [worker for worker in self.workers if worker.alive]

    def kill(self, process: SubgateProcess) -> None:
        process.kill()
        self.killed.append(process)

    def crashed(self) -> list[SubgateProcess]:
        """Processes that died although nobody killed them."""
        everyone = [*self.servers, *self.workers]
        return [p for p in everyone if not p.alive and not any(p is k for k in self.killed)]

    async def stop(self) -> None:
        """SIGTERM every live process (off the event loop, so the receiver keeps answering).

        A worker started as a replacement moments ago may still be importing, before it
        handles SIGTERM at all: what is checked is that a running worker stops cleanly, so
        each is given the time to get its loops running first.
        """
        for worker in self.live_workers():

            async def started(worker: SubgateProcess = worker) -> bool:
                return worker.logged("worker_started")

            await eventually(started, f"subgate worker {worker.log} started", SERVER_START_DEADLINE_S)
        for process in [*self.live_workers(), *(s for s in self.current.values() if s.alive)]:
            code = await asyncio.to_thread(process.stop)
            assert code == 0, f"subgate {process.command} exited {code}: {process.log_tail()}"

    def leases_handed_back(self) -> int:
        """Leases the workers took back from killed ones (their `worker_presumed_dead` log lines)."""
        handed = 0
        for worker in self.workers:
            for line in worker.log.read_text(errors="replace").splitlines():
                with contextlib.suppress(ValueError):
                    entry = json.loads(line)
                    if isinstance(entry, dict) and entry.get("event") == "worker_presumed_dead":
                        handed += int(entry.get("leases_handed_back", 0))
        return handed

    def note(self, action: str, progress: float, began: float) -> None:
        self.done[action] += 1
        took = f" ({time.monotonic() - began:.1f} s)" if action in (RESTART_SERVER, RESTART_REDIS) else ""
        self.timeline.append(f"{began - self._started:.1f} s ({progress:.0%} sent) {action}{took}")


async def run_schedule(
    plan: Disruptions,
    fleet: Fleet,
    redis_server: CrashableRedis,
    rng: random.Random,
    progress: Callable[[], float],
) -> None:
    """Each disruption once `progress()` (from 0 to 1) reaches its moment, after a random pause."""
    actions = plan.actions(rng)
    moments = sorted(rng.uniform(*PROGRESS_SPAN) for _ in actions)
    for action, moment in zip(actions, moments, strict=True):

        async def reached(moment: float = moment) -> bool:
            return progress() >= moment

        await eventually(reached, f"the traffic reaches {moment:.0%} for the {action}", PROGRESS_DEADLINE_S)
        await asyncio.sleep(rng.uniform(*plan.pause_seconds))  # the schedule's own pause: a random moment
        began, at = time.monotonic(), progress()
        await _disrupt(action, fleet, redis_server, rng)
        fleet.note(action, at, began)


async def _disrupt(action: str, fleet: Fleet, redis_server: CrashableRedis, rng: random.Random) -> None:
    if action == KILL_WORKER:
        fleet.kill(rng.choice(fleet.live_workers()))
        fleet.start_worker()
    elif action == RESTART_SERVER:
        port = rng.choice(fleet.ports)
        fleet.kill(fleet.current[port])
        fleet.start_server(port)
        await fleet.until_serving()
    elif action == FLUSH_REDIS:
        client = redis.asyncio.Redis.from_url(redis_server.url)
        try:
            await client.flushall()
        finally:
            await client.aclose()
    else:
        redis_server.kill()
        await asyncio.sleep(rng.uniform(*REDIS_OUTAGE_S))  # Redis stays down for a while
        await asyncio.to_thread(redis_server.start)
