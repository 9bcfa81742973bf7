"""The ingest reference: a bare Starlette app on the server stack `subgate serve` uses.

It reads the body and answers what subgate answers for an accepted event, nothing more.
`main` serves it exactly as `subgate.runtime.run_service` serves the gateway: one process,
the same `server_config` and the same `run_async` event loop (uvloop, httptools).

Run: `python -m benchmarks.bare_app PORT`.
"""

from __future__ import annotations

import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from benchmarks.processes import HOST
from subgate.runtime import run_async, server_config

ACCEPTED = b'{"status":"accepted"}'


async def accept(request: Request) -> Response:
    await request.body()
    return Response(ACCEPTED, media_type="application/json")


def create_bare_app() -> Starlette:
    return Starlette(routes=[Route("/webhooks/{provider}/{connection_id}", accept, methods=["POST"])])


def main(argv: list[str]) -> int:
    (port,) = argv
    run_async(uvicorn.Server(server_config(create_bare_app(), HOST, int(port))).serve())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
