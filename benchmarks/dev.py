"""`subgate dev` alone: one process ingesting, applying and delivering under concurrent posts.

One `subgate dev` (its own Redis, a fresh data dir), one merchant with one Stripe connection and
one endpoint at the receiver (`benchmarks.receiver`). C connections post distinct signed
events back to back (closed loop); each event makes one notification. The figure is events
per second end to end: from the first post of the measured batch until the receiver has the
notification of every one. A first batch warms the whole path up and is not counted.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from benchmarks.delivery import receiver_stats, timeout_for
from benchmarks.load import run_closed_loop
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
from benchmarks.results import Measurement, Target, rss_target
from benchmarks.traffic import create_merchant, set_up_merchant, signed_events
from subgate.redis.embedded import EmbeddedRedis

RATE_TARGET = 500.0
_POLL_S = 0.02


def run_dev(events: int, concurrency: int, run: str, profile: Path | None = None) -> list[Measurement]:
    warmup = 2 * concurrency
    with tempfile.TemporaryDirectory(prefix="subgate-bench-dev-") as scratch:
        root = Path(scratch)
        receiver_port, port = free_port(), free_port()
        receiver_argv = module_command("receiver", str(receiver_port))
        with (
            EmbeddedRedis(root / "redis") as redis,
            Child(
                "receiver", receiver_argv, env=child_env(), cwd=ROOT, log=root / "receiver.log"
            ) as receiver,
        ):
            env = subgate_env(root / "data", redis.url, port=str(port), allow_private_targets="true")
            api_key = create_merchant(env, root)
            with Child("subgate dev", subgate_command("dev"), env=env, cwd=root, log=root / "dev.log") as dev:
                try:
                    receiver.wait_listening(receiver_port)
                    dev.wait_listening(port)
                    dev.wait_logged("worker_started")
                    endpoint = f"http://{HOST}:{receiver_port}/hooks"
                    merchant = drive(set_up_merchant(port, api_key, endpoint))
                    requests = signed_events(warmup + events, f"dev{run}")
                    drive(run_closed_loop(merchant.webhook_url, [], requests[:warmup], concurrency))
                    drive(_wait_count(receiver_port, warmup, dev))
                    cpu = dev.cpu_seconds()
                    with maybe_profile(profile, f"dev-{run}", dev.pid):
                        load = drive(
                            run_closed_loop(merchant.webhook_url, [], requests[warmup:], concurrency)
                        )
                        last = drive(_wait_count(receiver_port, warmup + events, dev))
                    cpu = dev.cpu_seconds() - cpu
                    dev.check_alive()
                    receiver.check_alive()
                except BenchmarkError as error:
                    raise BenchmarkError(f"{error}\n{dev.log_tail()}") from None
                dev.stop()
    return [
        Measurement(
            "dev.rate",
            f"`subgate dev`, {concurrency} concurrent posts, ingest to delivered (events/s)",
            "/s",
            events / (last - load.started),
            Target(">=", RATE_TARGET, f"≥ {RATE_TARGET:,.0f}/s"),
        ),
        Measurement("dev.ingest", "`subgate dev`, inbound answers alone (events/s)", "/s", load.per_second),
        Measurement("dev.cpu", "`subgate dev`, CPU per event, end to end", "ms", cpu * 1000 / events),
        Measurement("dev.p99", "`subgate dev`, inbound answer latency p99", "ms", load.percentile_ms(99)),
        Measurement("rss.dev", "Peak RSS, `subgate dev`", "MB", dev.peak_rss_mb, rss_target()),
    ]


async def _wait_count(receiver_port: int, expected: int, dev: Child) -> float:
    """Wait until the receiver has `expected` notifications; returns the last one's arrival time."""
    deadline = time.monotonic() + timeout_for(expected)
    while (stats := await receiver_stats(receiver_port))["count"] < expected:
        dev.check_alive()
        if time.monotonic() > deadline:
            raise BenchmarkError(f"timed out: {stats['count']} of {expected} notifications arrived")
        await asyncio.sleep(_POLL_S)
    last: float = stats["last"]
    return last
