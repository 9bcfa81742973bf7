"""A closed-loop HTTP load generator: C keep-alive connections, each sending its next request
as soon as the previous answer has arrived. Only `200 {"status":"accepted"}` counts; any other
answer stops the run with an error that shows it."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp
import orjson

from benchmarks.processes import BenchmarkError

ACCEPTED = {"status": "accepted"}
_REQUEST_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class SignedRequest:
    body: bytes
    signature: str


@dataclass(frozen=True, slots=True)
class LoadResult:
    requests: int
    seconds: float
    latencies: tuple[float, ...]  # seconds, one per request

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    def percentile_ms(self, q: int) -> float:
        """The q-th percentile (1..99) of the request latencies, in milliseconds."""
        if len(self.latencies) == 1:
            return self.latencies[0] * 1000
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[q - 1] * 1000


async def _timed(
    session: aiohttp.ClientSession, url: str, requests: Sequence[SignedRequest], concurrency: int
) -> LoadResult:
    latencies = [0.0] * len(requests)
    indexes = iter(range(len(requests)))

    async def connection() -> None:
        for index in indexes:  # shared by every connection: each request is sent exactly once
            request = requests[index]
            headers = {"content-type": "application/json", "stripe-signature": request.signature}
            sent = time.perf_counter()
            async with session.post(url, data=request.body, headers=headers) as response:
                payload = await response.read()
            latencies[index] = time.perf_counter() - sent
            if response.status != 200 or _json(payload) != ACCEPTED:
                raise BenchmarkError(
                    f"request {index} to {url} was not accepted: HTTP {response.status} {payload[:500]!r}"
                )

    started = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for _ in range(min(concurrency, len(requests))):
            group.create_task(connection())
    seconds = time.perf_counter() - started
    return LoadResult(requests=len(requests), seconds=seconds, latencies=tuple(latencies))


def _json(payload: bytes) -> object:
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None


async def run_load(
    url: str, warmup: Sequence[SignedRequest], measured: Sequence[SignedRequest], concurrency: int
) -> LoadResult:
    """Send `warmup` (untimed: it opens the connections and warms both sides up), then `measured`
    over the same keep-alive connections; only the latter is timed."""
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=_REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        if warmup:
            await _timed(session, url, warmup, concurrency)
        return await _timed(session, url, measured, concurrency)
