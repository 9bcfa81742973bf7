"""Ingest: signed Stripe events per second accepted by one `subgate serve` process, next to a bare
Starlette app served the same way (`benchmarks.bare_app`), in the same run.

subgate runs as a real child process on a fresh SQLite file and a private Redis; its answers are
only `200 {"status":"accepted"}` once the event is verified, stored and enqueued. No worker runs,
so the measured work is the request path alone.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from benchmarks.load import LoadResult, SignedRequest, run_load
from benchmarks.processes import (
    HOST,
    ROOT,
    BenchmarkError,
    Child,
    child_env,
    free_port,
    module_command,
    run_subgate_cli,
    subgate_command,
    subgate_env,
)
from integrations.redis.embedded import EmbeddedRedis
from integrations.stripe.signature import sign_stripe_payload

WEBHOOK_SECRET = "whsec_benchmark_0123456789abcdef"  # noqa: S105 - signs generated traffic only


@dataclass(frozen=True, slots=True)
class IngestSample:
    """One repeat: the same load against subgate and against the bare app."""

    subgate: LoadResult
    bare: LoadResult
    server_peak_rss_bytes: int

    @property
    def ratio(self) -> float:
        return self.subgate.per_second / self.bare.per_second


def subscription_created(number: int, run: str, created: int) -> bytes:
    """A `customer.subscription.created` event, unique per (run, number), shaped like Stripe's."""
    event: dict[str, Any] = {
        "id": f"evt_bench_{run}_{number}",
        "object": "event",
        "api_version": "2025-03-31.basil",
        "type": "customer.subscription.created",
        "created": created,
        "livemode": False,
        "data": {
            "object": {
                "id": f"sub_bench_{run}_{number}",
                "object": "subscription",
                "customer": f"cus_bench_{number}",
                "status": "active",
                "cancel_at_period_end": False,
                "canceled_at": None,
                "trial_end": None,
                "metadata": {"benchmark": "ingest"},
                "items": {
                    "object": "list",
                    "data": [
                        {
                            "id": f"si_bench_{run}_{number}",
                            "current_period_start": created,
                            "current_period_end": created + 30 * 86_400,
                            "price": {
                                "id": "price_bench",
                                "currency": "usd",
                                "unit_amount": 2000,
                                "recurring": {"interval": "month", "interval_count": 1},
                            },
                        }
                    ],
                },
            }
        },
    }
    return orjson.dumps(event)


def signed_events(count: int, run: str) -> list[SignedRequest]:
    """Bodies and signatures are prepared before any timing starts."""
    now = int(time.time())
    requests = []
    for number in range(count):
        body = subscription_created(number, run, now)
        requests.append(SignedRequest(body=body, signature=sign_stripe_payload(body, WEBHOOK_SECRET, now)))
    return requests


def warmup_size(events: int, concurrency: int) -> int:
    return min(500, max(2 * concurrency, events // 10))


def run_ingest(events: int, concurrency: int, run: str = "0") -> IngestSample:
    """One repeat: subgate first, then the bare app, each with fresh processes and fresh events."""
    warmup = warmup_size(events, concurrency)
    with tempfile.TemporaryDirectory(prefix="subgate-bench-ingest-") as scratch:
        root = Path(scratch)
        subgate, peak_rss = _measure_subgate(root, events, warmup, concurrency, run)
        bare = _measure_bare(root, events, warmup, concurrency, run)
    return IngestSample(subgate=subgate, bare=bare, server_peak_rss_bytes=peak_rss)


def _measure_subgate(
    root: Path, events: int, warmup: int, concurrency: int, run: str
) -> tuple[LoadResult, int]:
    data_dir = root / "data"
    port = free_port()
    with EmbeddedRedis(root / "redis") as redis:
        env = subgate_env(data_dir, redis.url, port=str(port))
        # cwd is the scratch dir so that no `.env` of the developer's checkout is read.
        created = json.loads(run_subgate_cli(["merchants", "create", "Benchmark merchant"], env, root))
        with Child(
            "subgate serve", subgate_command("serve"), env=env, cwd=root, log=root / "serve.log"
        ) as server:
            server.wait_listening(port)
            try:
                connection_url = asyncio.run(_create_connection(port, str(created["api_key"])))
                requests = signed_events(warmup + events, run)
                result = asyncio.run(
                    run_load(connection_url, requests[:warmup], requests[warmup:], concurrency)
                )
            except BenchmarkError as error:
                raise BenchmarkError(f"{error}\n{server.log_tail()}") from None
            server.check_alive()
            server.stop()
            return result, server.peak_rss_bytes


def _measure_bare(root: Path, events: int, warmup: int, concurrency: int, run: str) -> LoadResult:
    port = free_port()
    with Child(
        "bare Starlette",
        module_command("bare_app", str(port)),
        env=child_env(),
        cwd=ROOT,
        log=root / "bare.log",
    ) as server:
        server.wait_listening(port)
        requests = signed_events(warmup + events, f"{run}b")
        url = f"http://{HOST}:{port}/webhooks/stripe/conn_bare"
        result = asyncio.run(run_load(url, requests[:warmup], requests[warmup:], concurrency))
        server.check_alive()
        return result


async def _create_connection(port: int, api_key: str) -> str:
    """`POST /v1/connections` as the merchant; returns the connection's webhook URL."""
    base = f"http://{HOST}:{port}"
    async with aiohttp.ClientSession(headers={"authorization": f"Bearer {api_key}"}) as session:
        payload = {"provider": "stripe", "webhook_secrets": [WEBHOOK_SECRET]}
        async with session.post(f"{base}/v1/connections", json=payload) as response:
            text = await response.text()
            if response.status != 201:
                raise BenchmarkError(f"POST /v1/connections answered {response.status}: {text}")
    connection = json.loads(text)
    url = f"{base}/webhooks/stripe/{connection['id']}"
    if connection.get("webhook_url") != url:
        raise BenchmarkError(f"unexpected webhook_url {connection.get('webhook_url')!r}; expected {url!r}")
    return url
