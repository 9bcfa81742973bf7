"""A loopback webhook receiver for the delivery benchmark, run as its own process.

Every POST is read in full and answered `200` at once; the receiver counts them and keeps the
first and last arrival times (`time.monotonic()`, which is CLOCK_MONOTONIC on Linux and so
comparable between processes). `GET /stats` reports them as JSON.

Run: `python -m benchmarks.receiver PORT`.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

from aiohttp import web

from benchmarks.processes import HOST


@dataclass
class Arrivals:
    count: int = 0
    first: float | None = None
    last: float | None = None

    def record(self) -> None:
        now = time.monotonic()
        if self.first is None:
            self.first = now
        self.last = now
        self.count += 1


def create_receiver_app() -> web.Application:
    arrivals = Arrivals()

    async def receive(request: web.Request) -> web.Response:
        await request.read()
        arrivals.record()
        return web.Response(status=200)

    async def stats(_: web.Request) -> web.Response:
        return web.json_response({"count": arrivals.count, "first": arrivals.first, "last": arrivals.last})

    app = web.Application()
    app.router.add_get("/stats", stats)
    app.router.add_post("/{tail:.*}", receive)
    return app


def main(argv: list[str]) -> int:
    (port,) = argv
    web.run_app(create_receiver_app(), host=HOST, port=int(port), access_log=None, print=None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
