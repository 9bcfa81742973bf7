"""End to end at a fixed offered rate: inbound event answered -> notification at the receiver.

`subgate serve` and one `subgate worker` share a fresh data dir and their own Redis; one
merchant has one Stripe connection and one endpoint at the receiver (`benchmarks.receiver`).
Distinct signed events are sent on a fixed schedule (open loop: the next one leaves on time
whether or not earlier ones were answered). For each event, the latency is from its `200`
answer to the first arrival of its notification at the receiver, which knows it by the
subscription's provider id in the body. The first second of events warms up and is not counted.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from benchmarks.delivery import receiver_stats, timeout_for
from benchmarks.load import run_open_loop
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
from benchmarks.results import RSS_SERVE_LABEL, RSS_WORKER_LABEL, Measurement, Target, rss_target
from benchmarks.stats import percentile
from benchmarks.traffic import create_merchant, set_up_merchant, signed_events
from subgate.redis.embedded import EmbeddedRedis

P99_TARGET_MS = 100.0
_POLL_S = 0.05


@dataclass(frozen=True, slots=True)
class EndToEnd:
    """One end-to-end measurement: each event's latency to its notification, and the processes."""

    latencies: list[float]  # seconds, measured events only
    answer_ms: list[float]
    sent_rate: float
    lateness: float
    serve_rss_mb: float
    worker_rss_mb: float
    worker_log: str


def run_end_to_end(rate: float, seconds: float, run: str) -> list[Measurement]:
    with tempfile.TemporaryDirectory(prefix="subgate-bench-e2e-") as scratch:
        measured = measure_end_to_end(Path(scratch), rate, seconds, run)
    latencies = measured.latencies
    return [
        Measurement(
            "e2e.offered", "End to end, offered rate (events/s, open loop)", "/s", measured.sent_rate
        ),
        Measurement(
            "e2e.p50",
            "End to end, 200 answer to notification arrival, p50",
            "ms",
            percentile(latencies, 50) * 1000,
        ),
        Measurement(
            "e2e.p99",
            "End to end, 200 answer to notification arrival, p99",
            "ms",
            percentile(latencies, 99) * 1000,
            Target("<=", P99_TARGET_MS, f"≤ {P99_TARGET_MS:.0f} ms"),
        ),
        Measurement(
            "e2e.max", "End to end, 200 answer to notification arrival, max", "ms", max(latencies) * 1000
        ),
        Measurement(
            "e2e.answer.p99",
            "End to end, inbound answer latency p99",
            "ms",
            percentile(measured.answer_ms, 99),
        ),
        Measurement(
            "e2e.lateness",
            "End to end, load generator's worst lag behind its schedule",
            "ms",
            measured.lateness * 1000,
        ),
        Measurement("rss.serve", RSS_SERVE_LABEL, "MB", measured.serve_rss_mb, rss_target()),
        Measurement("rss.worker", RSS_WORKER_LABEL, "MB", measured.worker_rss_mb, rss_target()),
    ]


def measure_end_to_end(
    root: Path,
    rate: float,
    seconds: float,
    run: str,
    *,
    data_dir: Path | None = None,
    settings: Mapping[str, str] | None = None,
) -> EndToEnd:
    """The measurement above, under `root`, on `data_dir` (a fresh one by default), the service
    started with the extra `settings` (names without the `SUBGATE_` prefix)."""
    warmup = max(1, round(rate))
    measured = max(1, round(rate * seconds))
    receiver_port, port = free_port(), free_port()
    with (
        EmbeddedRedis(root / "redis") as redis,
        Child(
            "receiver",
            module_command("receiver", str(receiver_port)),
            env=child_env(),
            cwd=ROOT,
            log=root / "receiver.log",
        ) as receiver,
    ):
        env = subgate_env(
            data_dir or root / "data",
            redis.url,
            port=str(port),
            allow_private_targets="true",
            **dict(settings or {}),
        )
        api_key = create_merchant(env, root)
        serve_argv, worker_argv = subgate_command("serve"), subgate_command("worker")
        with (
            Child("subgate serve", serve_argv, env=env, cwd=root, log=root / "serve.log") as serve,
            Child("subgate worker", worker_argv, env=env, cwd=root, log=root / "worker.log") as worker,
        ):
            try:
                receiver.wait_listening(receiver_port)
                serve.wait_listening(port)
                worker.wait_logged("worker_started")
                endpoint = f"http://{HOST}:{receiver_port}/hooks"
                merchant = drive(set_up_merchant(port, api_key, endpoint))
                requests = signed_events(warmup + measured, f"e2e{run}")
                load = drive(run_open_loop(merchant.webhook_url, requests, rate))
                arrivals = drive(_wait_arrivals(receiver_port, warmup + measured, (serve, worker)))
                for child in (serve, worker, receiver):
                    child.check_alive()
            except BenchmarkError as error:
                raise BenchmarkError(f"{error}\n{serve.log_tail()}\n{worker.log_tail()}") from None
            serve.stop()
            worker.stop()
        worker_log = (root / "worker.log").read_text(errors="replace")
    latencies = []
    for index in range(warmup, warmup + measured):
        arrived = arrivals.get(requests[index].subscription)
        if arrived is None:
            raise BenchmarkError(f"no notification arrived for {requests[index].subscription}")
        latencies.append(arrived - load.answered[index])
    span = load.sent[-1] - load.sent[warmup]
    return EndToEnd(
        latencies=latencies,
        answer_ms=[latency * 1000 for latency in load.latencies[warmup:]],
        sent_rate=(measured - 1) / span if span > 0 else rate,
        lateness=load.max_lateness,
        serve_rss_mb=serve.peak_rss_mb,
        worker_rss_mb=worker.peak_rss_mb,
        worker_log=worker_log,
    )


async def _wait_arrivals(receiver_port: int, expected: int, children: tuple[Child, ...]) -> dict[str, float]:
    deadline = time.monotonic() + timeout_for(expected)
    while (stats := await receiver_stats(receiver_port))["count"] < expected:
        for child in children:
            child.check_alive()
        if time.monotonic() > deadline:
            raise BenchmarkError(f"timed out: {stats['count']} of {expected} notifications arrived")
        await asyncio.sleep(_POLL_S)
    url = f"http://{HOST}:{receiver_port}/arrivals"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        arrivals: dict[str, float] = await response.json()
        return arrivals
