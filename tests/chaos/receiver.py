"""A merchant endpoint that fails: a share of requests answered with an error, a share left hanging.

While unhealthy, each request draws its fate: an error status (never 410 or 429, which the
service treats specially), a hang longer than the service's delivery timeout, or a 200. Every
signature is checked with the endpoint's secret. `heal()` makes it answer 200 from then on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import web
from svix.webhooks import Webhook, WebhookVerificationError

ERROR_STATUSES: Final = (500, 502, 503, 504)


@dataclass(frozen=True, slots=True, kw_only=True)
class Faults:
    error_share: float  # answered with one of ERROR_STATUSES
    hang_share: float  # held open for `hang_seconds`, long past the service's timeout
    hang_seconds: float


@dataclass(slots=True)
class FlakyReceiver:
    faults: Faults
    rng: random.Random
    url: str = ""
    secret: str = ""  # the endpoint's, known once the endpoint is created
    healthy: bool = False
    requests: int = 0
    errors: int = 0  # answered with an error status
    hung: int = 0
    bad_signatures: int = 0
    foreign_ids: int = 0  # a body whose `id` is not its `webhook-id`
    # Messages answered 2xx: the body (the same on every attempt) and when each 2xx was given.
    delivered: dict[str, dict[str, Any]] = field(default_factory=dict)
    delivered_at: dict[str, list[float]] = field(default_factory=dict)
    attempts: Counter[str] = field(default_factory=Counter)
    _released: asyncio.Event = field(default_factory=asyncio.Event)

    def heal(self) -> None:
        self.healthy = True
        self._released.set()

    @property
    def redelivered(self) -> int:
        """2xx answers beyond the first per message: sent again although it had arrived."""
        return sum(len(times) - 1 for times in self.delivered_at.values())

    def delivered_since(self, message_id: str, since: float) -> bool:
        return any(at >= since for at in self.delivered_at.get(message_id, ()))

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests += 1
        message_id = request.headers.get("webhook-id", "")
        self.attempts[message_id] += 1
        try:
            Webhook(self.secret).verify(body, dict(request.headers))
        except WebhookVerificationError:
            self.bad_signatures += 1
            return web.Response(status=400, text="bad signature")
        message = json.loads(body)
        if message["id"] != message_id:
            self.foreign_ids += 1
        fate = self.rng.random()
        if not self.healthy and fate < self.faults.hang_share:
            self.hung += 1
            # Held until long after the service gave up on it; whatever is answered then is lost.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._released.wait(), self.faults.hang_seconds)
            return web.Response(status=504, text="too late")
        if not self.healthy and fate < self.faults.hang_share + self.faults.error_share:
            self.errors += 1
            return web.Response(status=self.rng.choice(ERROR_STATUSES), text="failing on purpose")
        self.delivered.setdefault(message_id, message)
        self.delivered_at.setdefault(message_id, []).append(time.monotonic())
        return web.Response(status=200, text="ok")


@asynccontextmanager
async def running_flaky_receiver(faults: Faults, rng: random.Random) -> AsyncIterator[FlakyReceiver]:
    receiver = FlakyReceiver(faults=faults, rng=rng)
    app = web.Application()
    app.router.add_post("/hooks", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # aiohttp exposes no public accessor
    receiver.url = f"http://127.0.0.1:{port}/hooks"
    try:
        yield receiver
    finally:
        receiver.heal()  # lets hanging handlers finish before the server goes
        await runner.cleanup()
