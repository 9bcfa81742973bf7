"""Workers on one store: how fast one, then two `subgate worker` processes apply a backlog of
inbound events on the same SQLite data dir, and what that says of more.

Per repeat, once with one worker and once with two, each on a fresh data dir and Redis:
`subgate serve` alone takes the signed events (no worker runs yet, so they wait, accepted);
then the workers are started together and timed from the moment all of them run until the
last event is applied, counted in the store itself (a read-only connection, through the
status index). The workers' CPU over that span, per event, gives the per-core figure: one
core applies about 1000 / (CPU ms per event) events a second. Several workers add up to that
times the cores they get, until the store's one writer (SQLite's write lock, or a MongoDB
primary) is what they wait for: the two-worker figure against twice the one-worker figure
shows how close that is on this machine.
"""

from __future__ import annotations

import contextlib
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.load import run_closed_loop
from benchmarks.processes import BenchmarkError, Child, drive, free_port, subgate_command, subgate_env
from benchmarks.results import Measurement
from benchmarks.traffic import create_merchant, set_up_merchant, signed_events
from subgate.redis.embedded import EmbeddedRedis

_POLL_S = 0.02
_CONCURRENCY = 32


@dataclass(frozen=True, slots=True)
class _Backlog:
    per_second: float  # events applied per second, all workers together
    cpu_ms: float  # the workers' CPU time per event applied, summed over them
    busy_cores: float  # the workers' CPU seconds over the wall-clock seconds of the span


def run_workers(events: int, run: str) -> list[Measurement]:
    with tempfile.TemporaryDirectory(prefix="subgate-bench-workers-") as scratch:
        one = _measure(Path(scratch) / "one", events, f"{run}w1", workers=1)
        two = _measure(Path(scratch) / "two", events, f"{run}w2", workers=2)
    per_core = 1000 / one.cpu_ms
    return [
        Measurement(
            "workers.one.rate", "Backlog applied, one `subgate worker` (events/s)", "/s", one.per_second
        ),
        Measurement(
            "workers.two.rate",
            "Backlog applied, two `subgate worker`s on the same store (events/s)",
            "/s",
            two.per_second,
        ),
        Measurement(
            "workers.scaling",
            "Backlog applied, two workers / one worker",
            "x",
            two.per_second / one.per_second,
        ),
        Measurement("workers.one.cpu", "Backlog, CPU per event, one worker", "ms", one.cpu_ms),
        Measurement("workers.two.cpu", "Backlog, CPU per event, two workers together", "ms", two.cpu_ms),
        Measurement(
            "workers.per_core",
            "Backlog, events one core applies (1000 / CPU ms per event, one worker) (events/s)",
            "/s",
            per_core,
        ),
        Measurement("workers.two.cores", "Backlog, cores the two workers kept busy", "x", two.busy_cores),
    ]


def _measure(root: Path, events: int, run: str, *, workers: int) -> _Backlog:
    root.mkdir(parents=True)
    port = free_port()
    with EmbeddedRedis(root / "redis") as redis, contextlib.ExitStack() as stack:
        env = subgate_env(root / "data", redis.url, port=str(port))
        api_key = create_merchant(env, root)
        serve = stack.enter_context(
            Child("subgate serve", subgate_command("serve"), env=env, cwd=root, log=root / "serve.log")
        )
        serve.wait_listening(port)
        merchant = drive(set_up_merchant(port, api_key, None))
        drive(run_closed_loop(merchant.webhook_url, [], signed_events(events, run), _CONCURRENCY))
        store = root / "data" / "subgate.db"
        children = [
            stack.enter_context(
                Child(
                    f"subgate worker {n}",
                    subgate_command("worker"),
                    env=env,
                    cwd=root,
                    log=root / f"w{n}.log",
                )
            )
            for n in range(workers)
        ]
        for child in children:
            child.wait_logged("worker_started")
        started, applied_then = time.monotonic(), _applied(store)
        cpu_then = sum(child.cpu_seconds() for child in children)
        deadline = started + 120 + events / 20
        while (applied := _applied(store)) < events:
            for child in children:
                child.check_alive()
            if time.monotonic() > deadline:
                raise BenchmarkError(f"{applied} of {events} events applied by the deadline")
            time.sleep(_POLL_S)  # polling the store's count, bounded by the deadline above
        took = time.monotonic() - started
        cpu = sum(child.cpu_seconds() for child in children) - cpu_then
        for child in [*children, serve]:
            child.stop()
    counted = events - applied_then
    if counted <= 0:
        raise BenchmarkError(f"the workers applied all {events} events before they were timed: send more")
    return _Backlog(per_second=counted / took, cpu_ms=cpu * 1000 / counted, busy_cores=cpu / took)


def _applied(store: Path) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=10)) as db:
        (count,) = db.execute(
            "SELECT count(*) FROM inbound_events WHERE json_extract(doc, '$.status') = 'applied'"
        ).fetchone()
    return int(count)
