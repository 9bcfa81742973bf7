"""A real HTTP server on loopback that records what merchants would receive."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web


@dataclass(frozen=True, slots=True)
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str = ""
    received: list[Received] = field(default_factory=list)
    status_for: Callable[[int], int] = lambda _n: 200  # the answer for the n-th request (0-based)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_for(self, count: int, deadline_seconds: float = 10.0) -> None:
        """Poll with a deadline until `count` requests arrived."""
        async with asyncio.timeout(deadline_seconds):
            while len(self.received) < count:
                self.arrived.clear()
                await self.arrived.wait()


@asynccontextmanager
async def running_receiver(status_for: Callable[[int], int] = lambda _n: 200) -> AsyncIterator[Receiver]:
    receiver = Receiver(status_for=status_for)

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        number = len(receiver.received)
        receiver.received.append(Received(headers=dict(request.headers), body=body))
        receiver.arrived.set()
        return web.Response(status=receiver.status_for(number), text="ok")

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # aiohttp exposes no public accessor
    receiver.url = f"http://127.0.0.1:{port}/hooks"
    try:
        yield receiver
    finally:
        await runner.cleanup()
