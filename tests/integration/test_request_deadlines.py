"""Slow clients against a real server on loopback, served as `subgate serve` serves
(`subgate.runtime.server_config`): headers and bodies that do not arrive in time are cut, while
normal clients are served meanwhile and a slow application is never cut.

Raw sockets play the slow clients: silent, half a request line, headers a byte at a time, a
body that stops. The app runs on the in-memory fakes, so the store can be checked directly.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import uvicorn
from starlette.types import ASGIApp

from domain.merchants.external import NewConnection
from domain.merchants.model import Connection
from gateway.app import create_app
from integrations.providers.stripe.signature import sign_stripe_payload
from subgate.deadlines import RequestDeadlines
from subgate.runtime import server_config
from tests.support.cli import dev_env, run_cli, wait_until_healthy
from tests.support.service_processes import running_subgate
from tests.unit.gateway.fakes import Gateway, make_gateway

HEADER_S = 2.0
BODY_S = HEADER_S  # equal: a request cut at one deadline has outlived the other too
# Timers fire on the event loop's clock, which may round a millisecond down.
EARLY_BY_AT_MOST_S = 0.05
# Every slow connection is closed within the deadline plus this (generous: a loaded machine).
CLOSED_WITHIN_S = 20.0
SLOW_CLIENTS = 200
SECRET = "whsec_deadline_tests_secret"


@dataclass
class Ended:
    """How a slow connection ended: what the server sent, and when it closed, after opening."""

    answer: bytes
    after_s: float

    @property
    def status(self) -> int | None:
        if not self.answer:
            return None
        return int(self.answer.split(b" ", 2)[1])

    def error_type(self) -> str:
        body = self.answer.split(b"\r\n\r\n", 1)[1]
        kind: str = json.loads(body)["error"]["type"]
        return kind


@asynccontextmanager
async def serving(app: ASGIApp) -> AsyncIterator[tuple[str, int]]:
    # Listening before uvicorn starts: early connections wait in the backlog, no polling.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)
    port = listener.getsockname()[1]
    config = server_config(app, "127.0.0.1", port, RequestDeadlines(HEADER_S, BODY_S))
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        yield "127.0.0.1", port
    finally:
        server.should_exit = True
        await task
        listener.close()


async def slow_client(port: int, sent: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, float]:
    """A connection that sent `sent` and nothing more; and when it began, taken before the
    server can have seen it (so a deadline counted by the server never ends earlier)."""
    began = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    if sent:
        writer.write(sent)
        await writer.drain()
    return reader, writer, began


async def ending(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, since: float) -> Ended:
    """Read until the server closes the connection."""
    try:
        answer = await reader.read()
    finally:
        writer.close()
    return Ended(answer=answer, after_s=time.monotonic() - since)


async def dripping(writer: asyncio.StreamWriter, request: bytes, every_s: float) -> None:
    """A header a byte at a time (the pace is the slow client's, not a wait for our work)."""
    for byte in request:
        if writer.is_closing():
            return
        writer.write(bytes([byte]))
        try:
            await writer.drain()
        except ConnectionError:
            return
        await asyncio.sleep(every_s)


def assert_cut_at_the_deadline(ends: list[Ended], deadline_s: float) -> None:
    early = [end.after_s for end in ends if end.after_s < deadline_s - EARLY_BY_AT_MOST_S]
    assert early == [], f"closed before the deadline: {early[:5]}"


async def test_slow_headers_are_cut_at_the_deadline_while_normal_clients_are_served(tmp_path: Path) -> None:
    gateway = make_gateway(tmp_path)
    async with serving(gateway.app) as (host, port):
        silent = [await slow_client(port, b"") for _ in range(SLOW_CLIENTS // 2)]
        partial = [
            await slow_client(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n") for _ in range(SLOW_CLIENTS // 2)
        ]
        drip_reader, drip_writer, drip_since = await slow_client(port, b"")
        drip = asyncio.create_task(
            dripping(drip_writer, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * 400, 0.05)
        )
        endings = asyncio.gather(
            *(ending(reader, writer, since) for reader, writer, since in (*silent, *partial)),
            ending(drip_reader, drip_writer, drip_since),
        )
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}") as client:
            normal = [(await client.get("/healthz")).status_code for _ in range(20)]
            served_by = time.monotonic()
        async with asyncio.timeout(HEADER_S + CLOSED_WITHIN_S):
            ends = await endings
        await drip
    gateway.deps.telemetry.shutdown()

    assert normal == [200] * 20
    # Served while every slow connection was still held open.
    assert served_by < min(since for _, _, since in (*silent, *partial)) + HEADER_S - EARLY_BY_AT_MOST_S
    assert_cut_at_the_deadline(ends, HEADER_S)
    said_nothing, began, dripped = ends[: len(silent)], ends[len(silent) : -1], ends[-1]
    assert {end.answer for end in said_nothing} == {b""}  # nothing was asked: closed silently
    assert {end.status for end in began} == {408}
    assert {end.error_type() for end in began} == {"request_timeout"}
    # Still sending, a byte every 50 ms: cut all the same.
    assert dripped.status == 408


async def test_a_later_request_on_a_kept_alive_connection_has_its_own_header_deadline(tmp_path: Path) -> None:
    gateway = make_gateway(tmp_path)
    async with serving(gateway.app) as (_, port):
        reader, writer, _ = await slow_client(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        first = await reader.readuntil(b"}")
        began = time.monotonic()
        writer.write(b"GET /healthz HTTP/1.1\r\n")
        async with asyncio.timeout(HEADER_S + CLOSED_WITHIN_S):
            second = await ending(reader, writer, began)
    gateway.deps.telemetry.shutdown()

    assert first.startswith(b"HTTP/1.1 200 ")
    assert second.status == 408
    assert_cut_at_the_deadline([second], HEADER_S)


async def connection_for(gateway: Gateway) -> tuple[Connection, str]:
    merchant, api_key = await gateway.merchant()
    connection = await gateway.deps.merchants.create_connection(
        merchant.id, NewConnection(provider="stripe", webhook_secrets=[SECRET])
    )
    return connection, api_key


def request_head(method: str, path: str, headers: Mapping[str, str], length: int) -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: x",
        f"Content-Length: {length}",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def test_a_body_that_stops_arriving_is_cut_and_nothing_is_stored(tmp_path: Path) -> None:
    gateway = make_gateway(tmp_path)
    connection, api_key = await connection_for(gateway)
    body = b'{"id": "evt_deadline", "type": "invoice.paid", "created": 1736942400}'
    signed = {
        "Content-Type": "application/json",
        "Stripe-Signature": sign_stripe_payload(body, SECRET, int(gateway.clock().timestamp())),
    }
    rest_body = json.dumps({"provider": "stripe", "webhook_secrets": [SECRET]}).encode()
    async with serving(gateway.app) as (host, port):
        webhook = await slow_client(
            port, request_head("POST", f"/webhooks/stripe/{connection.id}", signed, len(body)) + body[:20]
        )
        rest = await slow_client(
            port,
            request_head(
                "POST",
                "/v1/connections",
                {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
                len(rest_body),
            )
            + rest_body[:10],
        )
        endings = asyncio.gather(*(ending(*client) for client in (webhook, rest)))
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}") as client:
            other = await client.get("/v1/connections", headers={"Authorization": f"Bearer {api_key}"})
        async with asyncio.timeout(BODY_S + CLOSED_WITHIN_S):
            ends = await endings
    gateway.deps.telemetry.shutdown()

    assert other.status_code == 200
    assert_cut_at_the_deadline(list(ends), BODY_S)
    assert [end.status for end in ends] == [408, 408]
    assert gateway.store.documents("inbound_events") == []
    assert len(gateway.store.documents("connections")) == 1  # the one made above, no other


async def test_the_deadlines_never_cut_a_slow_application(tmp_path: Path) -> None:
    gateway = make_gateway(tmp_path)
    release = asyncio.Event()

    async def slow_readiness() -> Mapping[str, bool]:
        await release.wait()
        return {"store": True, "redis": True}

    app = create_app(replace(gateway.deps, readiness=slow_readiness))
    async with serving(app) as (host, port):
        timeout = HEADER_S + CLOSED_WITHIN_S
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=timeout) as client:
            answer = asyncio.create_task(client.get("/readyz"))
            # A slow client that comes later is cut at the header deadline; once it is, the
            # answer above has taken longer than either deadline allows a client.
            async with asyncio.timeout(timeout):
                cut = await ending(*await slow_client(port, b"GET / HTTP/1.1\r\n"))
            release.set()
            response = await answer
    gateway.deps.telemetry.shutdown()

    assert cut.status == 408
    assert response.status_code == 200


async def test_subgate_serve_applies_the_settings(tmp_path: Path, redis_url: str) -> None:
    env = dev_env(
        tmp_path,
        SUBGATE_REDIS_URL=redis_url,
        SUBGATE_HEADER_TIMEOUT_SECONDS="1.5",
        SUBGATE_BODY_TIMEOUT_SECONDS="2.5",
    )
    port = int(env["SUBGATE_PORT"])
    created = json.loads(await run_cli("merchants", "create", "Deadlines", env=env, cwd=tmp_path))
    authorized = {"Authorization": f"Bearer {created['api_key']}", "Content-Type": "application/json"}
    with running_subgate("serve", env, tmp_path):
        await wait_until_healthy(f"http://127.0.0.1:{port}")
        async with asyncio.timeout(CLOSED_WITHIN_S):
            headers = await ending(*await slow_client(port, b"GET /healthz HTTP/1.1\r\n"))
            head = request_head("POST", "/v1/connections", authorized, 10)
            body = await ending(*await slow_client(port, head + b"{"))

    assert headers.status == 408
    assert b"did not arrive within 1.5 s" in headers.answer
    assert body.status == 408
    assert b"did not arrive within 2.5 s" in body.answer
