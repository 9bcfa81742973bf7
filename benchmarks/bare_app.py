"""The ingest reference: a bare Starlette app on the server stack `subgate serve` uses.

It reads the body and answers what subgate answers for an accepted event, nothing more.
`main` serves it exactly as `subgate.runtime.run_service` serves the gateway: one process,
uvicorn's `Config` with the same arguments, `Server.serve()` inside `asyncio.run` (so the
same event loop implementation and HTTP protocol implementation are picked).

Run: `python -m benchmarks.bare_app PORT`.
"""

from __future__ import annotations

import asyncio
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from benchmarks.processes import HOST

ACCEPTED = b'{"status":"accepted"}'


async def accept(request: Request) -> Response:
    await request.body()
    return Response(ACCEPTED, media_type="application/json")


def create_bare_app() -> Starlette:
    return Starlette(routes=[Route("/webhooks/{provider}/{connection_id}", accept, methods=["POST"])])


def main(argv: list[str]) -> int:
    (port,) = argv
    config = uvicorn.Config(
        create_bare_app(), host=HOST, port=int(port), log_config=None, access_log=False, lifespan="on"
    )
    asyncio.run(uvicorn.Server(config).serve())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
