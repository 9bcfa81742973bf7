"""HTTP load generators for signed webhook requests.

`run_closed_loop`: C keep-alive connections, each sending its next request as soon as the
previous answer has arrived (throughput). `run_open_loop`: requests sent on a fixed schedule
whether or not earlier ones were answered (latency at a given offered rate).

Only `200 {"status":"accepted"}` counts; any other answer stops the run with an error that
shows it. Times are `time.monotonic()` (CLOCK_MONOTONIC, the receiver process's clock too).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import aiohttp
import orjson

from benchmarks.processes import BenchmarkError
from benchmarks.stats import percentile
from benchmarks.traffic import SignedRequest

ACCEPTED = {"status": "accepted"}
_REQUEST_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class LoadResult:
    requests: int
    started: float
    seconds: float
    latencies: tuple[float, ...]  # seconds, one per request
    sent: tuple[float, ...]  # monotonic time each request was sent
    answered: tuple[float, ...]  # monotonic time of each answer
    max_lateness: float = 0.0  # open loop: how far the latest send fell behind its schedule

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    def percentile_ms(self, q: float) -> float:
        return percentile(self.latencies, q) * 1000


class _Sender:
    def __init__(self, session: aiohttp.ClientSession, url: str, requests: Sequence[SignedRequest]) -> None:
        self._session = session
        self._url = url
        self._requests = requests
        self.latencies = [0.0] * len(requests)
        self.sent = [0.0] * len(requests)
        self.answered = [0.0] * len(requests)

    async def send(self, index: int) -> None:
        request = self._requests[index]
        headers = {"content-type": "application/json", "stripe-signature": request.signature}
        self.sent[index] = sent = time.monotonic()
        async with self._session.post(self._url, data=request.body, headers=headers) as response:
            payload = await response.read()
        answered = time.monotonic()
        self.latencies[index] = answered - sent
        self.answered[index] = answered
        if response.status != 200 or _json(payload) != ACCEPTED:
            raise BenchmarkError(
                f"request {index} to {self._url} was not accepted: HTTP {response.status} {payload[:500]!r}"
            )

    def result(self, started: float, max_lateness: float = 0.0) -> LoadResult:
        return LoadResult(
            requests=len(self._requests),
            started=started,
            seconds=max(self.answered) - started,
            latencies=tuple(self.latencies),
            sent=tuple(self.sent),
            answered=tuple(self.answered),
            max_lateness=max_lateness,
        )


def _json(payload: bytes) -> object:
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None


def _session(connections: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=connections)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=_REQUEST_TIMEOUT_S))


async def _closed(
    session: aiohttp.ClientSession, url: str, requests: Sequence[SignedRequest], concurrency: int
) -> LoadResult:
    sender = _Sender(session, url, requests)
    indexes = iter(range(len(requests)))

    async def connection() -> None:
        for index in indexes:  # shared by every connection: each request is sent exactly once
            await sender.send(index)

    started = time.monotonic()
    async with asyncio.TaskGroup() as group:
        for _ in range(min(concurrency, len(requests))):
            group.create_task(connection())
    return sender.result(started)


async def run_closed_loop(
    url: str,
    warmup: Sequence[SignedRequest],
    measured: Sequence[SignedRequest],
    concurrency: int,
    on_timed: Callable[[], object] = lambda: None,
) -> LoadResult:
    """Send `warmup` (untimed: it opens the connections and warms both sides up), then `measured`
    over the same keep-alive connections; only the latter is timed. `on_timed` is called just
    before the timed part starts."""
    async with _session(concurrency) as session:
        if warmup:
            await _closed(session, url, warmup, concurrency)
        on_timed()
        return await _closed(session, url, measured, concurrency)


async def run_open_loop(url: str, requests: Sequence[SignedRequest], rate: float) -> LoadResult:
    """Send request i at `start + i / rate`, each on its own task, then wait for every answer."""
    sender = _Sender(session := _session(0), url, requests)  # 0: as many connections as needed
    async with session:
        started = time.monotonic()
        lateness = 0.0
        async with asyncio.TaskGroup() as group:
            for index in range(len(requests)):
                due = started + index / rate
                if (wait := due - time.monotonic()) > 0:
                    await asyncio.sleep(wait)
                lateness = max(lateness, time.monotonic() - due)
                group.create_task(sender.send(index))
    return sender.result(started, lateness)
