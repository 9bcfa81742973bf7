"""The gateway behind a real uvicorn server on a loopback port (real sockets, real HTTP parsing).

The app still runs on the in-memory fakes; what this adds over the unit tests is
the server's side: the TCP peer address, a Content-Length that is refused
before the body is read, and a chunked body cut off at the limit.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import uvicorn

from domain.merchants.external import NewConnection
from domain.merchants.model import Connection
from integrations.providers.stripe.signature import sign_stripe_payload
from tests.unit.gateway.fakes import Gateway, make_gateway

SECRET = "whsec_http_tests_secret"
LIMIT = 4096


@asynccontextmanager
async def serving(gateway: Gateway) -> AsyncIterator[str]:
    # The socket listens before uvicorn starts, so early connections wait in the backlog:
    # no free-port race and no polling for "started".
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(gateway.app, log_config=None, lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        listener.close()
        gateway.deps.telemetry.shutdown()


async def connection_for(gateway: Gateway) -> Connection:
    merchant, _ = await gateway.merchant()
    return await gateway.deps.merchants.create_connection(
        merchant.id, NewConnection(provider="stripe", webhook_secrets=[SECRET])
    )


def signed(gateway: Gateway, body: bytes) -> dict[str, str]:
    signature = sign_stripe_payload(body, SECRET, int(gateway.clock().timestamp()))
    return {"Content-Type": "application/json", "Stripe-Signature": signature}


async def test_accepted_over_tcp_records_the_forwarded_client(tmp_path: Path) -> None:
    gateway = make_gateway(tmp_path, trusted_proxies="127.0.0.1", max_body_bytes=LIMIT)
    connection = await connection_for(gateway)
    body = b'{"id": "evt_tcp", "type": "invoice.paid", "created": 1736942400}'

    async with serving(gateway) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        response = await client.post(
            f"/webhooks/stripe/{connection.id}",
            content=body,
            headers={**signed(gateway, body), "X-Forwarded-For": "198.51.100.77"},
        )

    assert response.json() == {"status": "accepted"}
    [stored] = gateway.store.documents("inbound_events")
    assert stored["source_ip"] == "198.51.100.77"


async def test_oversized_bodies_are_refused_over_tcp(tmp_path: Path) -> None:
    gateway = make_gateway(tmp_path, max_body_bytes=LIMIT)
    connection = await connection_for(gateway)

    async def chunks() -> AsyncIterator[bytes]:
        # No Content-Length: the limit can only be noticed while reading.
        for _ in range(64):
            yield b" " * 1024

    async with serving(gateway) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        declared = await client.post(
            f"/webhooks/stripe/{connection.id}", content=b" " * (LIMIT + 1), headers=signed(gateway, b"")
        )
        streamed = await client.post(
            f"/webhooks/stripe/{connection.id}", content=chunks(), headers=signed(gateway, b"")
        )
        # The server is still healthy after refusing both.
        health = await client.get("/healthz")

    assert declared.status_code == 413
    assert streamed.status_code == 413
    assert streamed.json()["error"]["type"] == "payload_too_large"
    assert health.status_code == 200
    assert gateway.store.documents("inbound_events") == []
