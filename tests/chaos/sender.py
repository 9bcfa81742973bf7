"""The providers' side of the chaos test: post every event, signed, until it is acknowledged.

Stripe and Polar retry a webhook that was not answered with a 2xx (an error status, a
dropped connection, a server that is not there) until it is; so does this sender, with a
short back-off instead of their minutes. Each attempt is signed afresh, as theirs are, with
the secret of the connection the event is posted to.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

import aiohttp

from integrations.providers.polar.samples import polar_headers
from integrations.providers.stripe.samples import signed_headers
from tests.chaos.story import ProviderEvent

FIRST_BACKOFF_S: Final = 0.05
MAX_BACKOFF_S: Final = 1.0
REQUEST_TIMEOUT_S: Final = 10.0
HTTP_OK: Final = 200
HTTP_REDIRECT: Final = 300


@dataclass(frozen=True, slots=True, kw_only=True)
class Connection:
    id: str
    secret: str


@dataclass(slots=True)
class SendStats:
    posts: int = 0  # requests made, retries included
    retries: int = 0  # requests repeated after a refusal or a connection error
    answers: Counter[str] = field(default_factory=Counter)  # "accepted", "duplicate", "HTTP 503", ...

    @property
    def acknowledged(self) -> int:
        return self.answers["accepted"] + self.answers["duplicate"]


class ProviderSimulator:
    def __init__(
        self,
        base_urls: Sequence[str],
        connections: Mapping[str, Connection],
        *,
        concurrency: int,
        rng: random.Random,
        deadline_seconds: float,
    ) -> None:
        self._base_urls = tuple(base_urls)
        self._connections = connections
        self._concurrency = concurrency
        self._rng = rng
        self._deadline_seconds = deadline_seconds
        self.stats = SendStats()
        self._total = 0

    def progress(self) -> float:
        """The share of the deliveries acknowledged so far, from 0 to 1."""
        return self.stats.acknowledged / self._total if self._total else 0.0

    async def send_all(self, deliveries: Sequence[ProviderEvent]) -> SendStats:
        """Post each delivery until it is acknowledged, `concurrency` at once, in the given order."""
        deadline = time.monotonic() + self._deadline_seconds
        self._total = len(deliveries)
        queue = iter(deliveries)
        # aiohttp rather than httpx: this one process also runs the merchant's endpoint, and
        # httpx spends about a millisecond of CPU per request.
        connector = aiohttp.TCPConnector(limit=self._concurrency)
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
            await asyncio.gather(*(self._sender(http, queue, deadline) for _ in range(self._concurrency)))
        return self.stats

    async def _sender(
        self, http: aiohttp.ClientSession, queue: Iterator[ProviderEvent], deadline: float
    ) -> None:
        for event in queue:  # one shared iterator: each delivery is taken by one sender
            await self._post_until_acknowledged(http, event, deadline)

    async def _post_until_acknowledged(
        self, http: aiohttp.ClientSession, event: ProviderEvent, deadline: float
    ) -> None:
        connection = self._connections[event.provider]
        backoff = FIRST_BACKOFF_S
        while True:
            self.stats.posts += 1
            answer = await self._post(http, event, connection)
            self.stats.answers[answer] += 1
            if answer in ("accepted", "duplicate"):
                return
            assert time.monotonic() < deadline, (
                f"{event.provider} event {event.event_id} still not acknowledged (last answer: {answer}); "
                f"answers so far: {dict(self.stats.answers)}"
            )
            self.stats.retries += 1
            # The provider's back-off between two deliveries of one event, jittered.
            await asyncio.sleep(backoff * self._rng.uniform(0.5, 1.5))
            backoff = min(backoff * 2, MAX_BACKOFF_S)

    async def _post(self, http: aiohttp.ClientSession, event: ProviderEvent, connection: Connection) -> str:
        now = int(time.time())
        if event.provider == "stripe":
            headers = signed_headers(event.body, connection.secret, now)
        else:
            headers = polar_headers(event.body, connection.secret, now, message_id=event.event_id)
        # Each attempt goes to any of the servers, as a proxy in front of several would send it.
        base = self._rng.choice(self._base_urls)
        try:
            async with http.post(
                f"{base}/webhooks/{event.provider}/{connection.id}", data=event.body, headers=headers
            ) as response:
                if not HTTP_OK <= response.status < HTTP_REDIRECT:
                    return f"HTTP {response.status}"
                answer = await response.json()
        except (aiohttp.ClientError, TimeoutError) as error:
            return f"connection error ({type(error).__name__})"
        status: str = answer["status"]
        return status
