"""Ingest: signed Stripe events per second accepted by `subgate serve`, next to a bare Starlette
app served the same way (`benchmarks.bare_app`), with the same load in the same run.

Three measurements per repeat, each on fresh processes, a fresh data dir and its own Redis:
the bare app; `subgate serve` alone; and `subgate serve` with one `subgate worker` beside it on
the same data dir, applying the events while they arrive (no endpoint is registered, so the
worker creates subscriptions and their outbox messages but sends nothing). subgate answers
`200 {"status":"accepted"}` only once the event is verified and durably stored. After the
load, the run waits until the worker has applied every event and fails if any was not.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.load import LoadResult, run_closed_loop
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
from benchmarks.results import RSS_SERVE_LABEL, RSS_WORKER_LABEL, Measurement, Target, rss_target
from benchmarks.traffic import Merchant, create_merchant, set_up_merchant, signed_events
from subgate.redis.embedded import EmbeddedRedis

RATIO_TARGET = 0.5
_POLL_S = 0.1


def warmup_size(events: int, concurrency: int) -> int:
    return min(500, max(2 * concurrency, events // 10))


def run_ingest(events: int, concurrency: int, run: str, profile: Path | None = None) -> list[Measurement]:
    """One repeat: the bare app, `subgate serve` alone, then `subgate serve` + `subgate worker`."""
    warmup = warmup_size(events, concurrency)
    with tempfile.TemporaryDirectory(prefix="subgate-bench-ingest-") as scratch:
        root = Path(scratch)
        bare, bare_cpu_ms = _measure_bare(root / "bare", events, warmup, concurrency, run)
        alone = _measure_subgate(
            root / "alone", events, warmup, concurrency, f"{run}a", worker=False, profile=profile
        )
        both = _measure_subgate(
            root / "with-worker", events, warmup, concurrency, f"{run}w", worker=True, profile=profile
        )
    rate = "events/s"
    return [
        Measurement(
            "ingest.bare.rate",
            f"Ingest, bare Starlette, same stack ({rate})",
            "/s",
            bare.per_second,
            note="reference",
        ),
        Measurement(
            "ingest.bare.p50",
            "Ingest latency p50, bare Starlette",
            "ms",
            bare.percentile_ms(50),
            note="reference",
        ),
        Measurement(
            "ingest.bare.p99",
            "Ingest latency p99, bare Starlette",
            "ms",
            bare.percentile_ms(99),
            note="reference",
        ),
        Measurement(
            "ingest.serve.rate", f"Ingest, `subgate serve` alone ({rate})", "/s", alone.load.per_second
        ),
        Measurement(
            "ingest.serve.ratio",
            "Ingest ratio, `subgate serve` alone / bare",
            "x",
            alone.load.per_second / bare.per_second,
        ),
        Measurement(
            "ingest.serve.p50",
            "Ingest latency p50, `subgate serve` alone",
            "ms",
            alone.load.percentile_ms(50),
        ),
        Measurement(
            "ingest.serve.p99",
            "Ingest latency p99, `subgate serve` alone",
            "ms",
            alone.load.percentile_ms(99),
        ),
        Measurement(
            "ingest.worker.rate",
            f"Ingest, `subgate serve` + `subgate worker` ({rate})",
            "/s",
            both.load.per_second,
        ),
        Measurement(
            "ingest.worker.ratio",
            "Ingest ratio, `subgate serve` + `subgate worker` / bare",
            "x",
            both.load.per_second / bare.per_second,
            Target(">=", RATIO_TARGET, f"≥ {RATIO_TARGET}x bare"),
        ),
        Measurement(
            "ingest.worker.p50",
            "Ingest latency p50, `subgate serve` + `subgate worker`",
            "ms",
            both.load.percentile_ms(50),
        ),
        Measurement(
            "ingest.worker.p99",
            "Ingest latency p99, `subgate serve` + `subgate worker`",
            "ms",
            both.load.percentile_ms(99),
        ),
        Measurement(
            "ingest.bare.cpu", "Ingest, CPU per event, bare Starlette", "ms", bare_cpu_ms, note="reference"
        ),
        Measurement(
            "ingest.serve.cpu", "Ingest, CPU per event, `subgate serve` alone", "ms", alone.serve_cpu_ms
        ),
        Measurement(
            "ingest.worker.serve_cpu",
            "Ingest, CPU per event, `subgate serve` beside a worker",
            "ms",
            both.serve_cpu_ms,
        ),
        Measurement(
            "ingest.worker.apply_cpu",
            "Ingest, CPU per event, `subgate worker` applying it",
            "ms",
            both.worker_cpu_ms,
        ),
        Measurement(
            "ingest.worker.backlog",
            "Ingest, last answer to every event applied by the worker",
            "s",
            both.backlog_seconds,
        ),
        Measurement(
            "rss.serve", RSS_SERVE_LABEL, "MB", max(alone.serve_rss_mb, both.serve_rss_mb), rss_target()
        ),
        Measurement("rss.worker", RSS_WORKER_LABEL, "MB", both.worker_rss_mb, rss_target()),
    ]


def _measure_bare(
    root: Path, events: int, warmup: int, concurrency: int, run: str
) -> tuple[LoadResult, float]:
    """The load and the server's CPU time per measured event (ms)."""
    root.mkdir()
    port = free_port()
    argv = module_command("bare_app", str(port))
    with Child("bare Starlette", argv, env=child_env(), cwd=ROOT, log=root / "bare.log") as server:
        server.wait_listening(port)
        requests = signed_events(warmup + events, f"{run}b")
        url = f"http://{HOST}:{port}/webhooks/stripe/conn_bare"
        cpu = [0.0]
        result = drive(
            run_closed_loop(
                url,
                requests[:warmup],
                requests[warmup:],
                concurrency,
                lambda: cpu.append(server.cpu_seconds()),
            )
        )
        server.check_alive()
        return result, (server.cpu_seconds() - cpu[-1]) * 1000 / events


@dataclass(frozen=True, slots=True)
class _SubgateRun:
    load: LoadResult
    backlog_seconds: float  # from the last answer until the worker had applied every event
    serve_cpu_ms: float  # CPU time of `subgate serve` per measured event
    worker_cpu_ms: float  # CPU time of `subgate worker` per measured event, until all applied
    serve_rss_mb: float
    worker_rss_mb: float


def _measure_subgate(
    root: Path,
    events: int,
    warmup: int,
    concurrency: int,
    run: str,
    *,
    worker: bool,
    profile: Path | None = None,
    data_dir: Path | None = None,
) -> _SubgateRun:
    root.mkdir()
    port = free_port()
    with EmbeddedRedis(root / "redis") as redis, contextlib.ExitStack() as stack:
        env = subgate_env(data_dir or root / "data", redis.url, port=str(port))
        # cwd is the scratch dir so that no `.env` of the developer's checkout is read.
        api_key = create_merchant(env, root)
        serve = Child("subgate serve", subgate_command("serve"), env=env, cwd=root, log=root / "serve.log")
        children = [stack.enter_context(serve)]
        if worker:
            argv = subgate_command("worker")
            children.append(
                stack.enter_context(Child("subgate worker", argv, env=env, cwd=root, log=root / "worker.log"))
            )
        try:
            serve.wait_listening(port)
            for child in children[1:]:
                child.wait_logged("worker_started")
            merchant = drive(set_up_merchant(port, api_key, None))
            requests = signed_events(warmup + events, run)
            cpu: dict[str, float] = {}

            def timed() -> None:  # CPU time used so far, once the warm-up is over
                cpu.update({child.name: child.cpu_seconds() for child in children})

            with contextlib.ExitStack() as profiles:
                for child in children:
                    kind = child.name.removeprefix("subgate ")
                    profiles.enter_context(maybe_profile(profile, f"ingest-{kind}-{run}", child.pid))
                load = drive(
                    run_closed_loop(
                        merchant.webhook_url, requests[:warmup], requests[warmup:], concurrency, timed
                    )
                )
            serve_cpu = serve.cpu_seconds() - cpu[serve.name]
            backlog = worker_cpu = 0.0
            for child in children[1:]:
                applied = drive(_wait_applied(merchant, child, time.monotonic() + 60.0 + events / 50))
                backlog = max(0.0, applied - max(load.answered))
                worker_cpu = child.cpu_seconds() - cpu[child.name]
            for child in children:
                child.check_alive()
        except BenchmarkError as error:
            raise BenchmarkError(f"{error}\n" + "\n".join(child.log_tail() for child in children)) from None
        for child in children:
            child.stop()
        return _SubgateRun(
            load=load,
            backlog_seconds=backlog,
            serve_cpu_ms=serve_cpu * 1000 / events,
            worker_cpu_ms=worker_cpu * 1000 / events,
            serve_rss_mb=serve.peak_rss_mb,
            worker_rss_mb=max((child.peak_rss_mb for child in children[1:]), default=0.0),
        )


def ingest_rate(root: Path, events: int, concurrency: int, run: str, data_dir: Path | None = None) -> float:
    """Events/s accepted by `subgate serve` with a `subgate worker` applying them, measured as
    above on `data_dir` (a fresh one under `root` by default); every event must be applied."""
    warmup = warmup_size(events, concurrency)
    both = _measure_subgate(root, events, warmup, concurrency, run, worker=True, data_dir=data_dir)
    return both.load.per_second


async def _wait_applied(merchant: Merchant, worker: Child, deadline: float) -> float:
    """Poll the REST API until no event waits; returns when. Fails if any was not applied."""
    while (await merchant.get_json("/v1/inbound-events?status=accepted&limit=1"))["data"]:
        worker.check_alive()
        if time.monotonic() > deadline:
            raise BenchmarkError("timed out waiting for the worker to apply every event")
        await asyncio.sleep(_POLL_S)
    done = time.monotonic()
    for status in ("failed", "ignored"):
        page = await merchant.get_json(f"/v1/inbound-events?status={status}&limit=1")
        if page["data"]:
            raise BenchmarkError(f"the worker did not apply every event; one is {status}: {page['data'][0]}")
    return done
