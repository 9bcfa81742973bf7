"""The webhook sender's edges: a refusal wrapped on its way up, the excerpt's read limit, the pool.

The sender runs for real against loopback peers (127.0.0.1, free ports); name look-ups go
through stubs, so no test depends on DNS.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from aiohttp import web

from domain.notifications.model import new_signing_secret
from domain.notifications.ports import OutboundWebhook, SendResult
from integrations.delivery.http.resolver import GuardedResolver, Lookup, system_lookup
from integrations.delivery.http.sender import EXCERPT_BYTES, HttpWebhookSender, OutboundClient
from integrations.delivery.http.targets import ForbiddenTarget, UnresolvableTarget
from integrations.telemetry.tracing import Telemetry

ATTEMPT_TIMEOUT = 2.0


async def send(url: str, *, lookup: Lookup = system_lookup, allow_private: bool = True) -> SendResult:
    telemetry = Telemetry("subgate-test")
    client = OutboundClient(allow_private_targets=allow_private, lookup=lookup)
    webhook = OutboundWebhook(
        url=url,
        message_id="msg_edges",
        timestamp=datetime.now(UTC),
        body=b'{"id":"msg_edges"}',
        secrets=(new_signing_secret(),),
    )
    try:
        sender = HttpWebhookSender(client, telemetry, ATTEMPT_TIMEOUT)
        return await sender.send(webhook)
    finally:
        await client.aclose()
        telemetry.shutdown()


def wrapping(cause: Exception) -> Lookup:
    """A look-up whose failure carries `cause` as its explicit cause only (no context)."""

    async def lookup(host: str, port: int) -> list[str]:
        wrapped = OSError(f"look-up of {host}:{port} failed")
        wrapped.__cause__ = cause
        raise wrapped

    return lookup


@asynccontextmanager
async def trickling(first: bytes, then: bytes) -> AsyncIterator[str]:
    """Answers 200 with `first`, a moment later `then`, and never ends the body."""
    never = asyncio.Event()

    async def handle(request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(status=200)
        await response.prepare(request)
        await response.write(first)
        await asyncio.sleep(0.05)  # lets the two parts reach the client as two reads
        await response.write(then)
        await never.wait()
        return response

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # aiohttp exposes no public accessor
    try:
        yield f"http://127.0.0.1:{port}/hooks"
    finally:
        never.set()
        await runner.cleanup()


async def test_a_refusal_the_connector_wrapped_is_still_reported_as_a_refused_target() -> None:
    refusal = ForbiddenTarget("'hooks.example.test' resolves to a private address (10.0.0.8)")

    result = await send("http://hooks.example.test/hooks", lookup=wrapping(refusal), allow_private=False)

    assert result.status_code is None
    assert result.error == f"refused target: {refusal}"


async def test_a_wrapped_failure_to_resolve_is_not_reported_as_a_refusal() -> None:
    unresolvable = UnresolvableTarget("cannot resolve host 'hooks.example.test': gone")

    result = await send("http://hooks.example.test/hooks", lookup=wrapping(unresolvable), allow_private=False)

    assert result.error is not None
    assert not result.error.startswith("refused target")
    assert result.error.endswith(str(unresolvable))


async def test_a_name_without_an_encoding_is_reported_as_unresolvable_in_the_resolvers_words() -> None:
    async def idna_failure(host: str, port: int) -> list[str]:
        raise UnicodeError(f"label too long in {host}:{port}")

    result = await send("http://hooks.example.test/hooks", lookup=idna_failure, allow_private=False)

    assert result.status_code is None
    assert result.error == "cannot resolve host 'hooks.example.test': label too long in hooks.example.test:80"


async def test_the_answer_is_read_only_up_to_the_excerpt_even_when_its_body_never_ends() -> None:
    first = b"a" * (EXCERPT_BYTES - 1)

    async with trickling(first, b"bc") as url:
        result = await send(url)

    # The two reads hold the excerpt's size and more: the body's end is not waited for.
    assert result.ok, result.error
    assert result.response_excerpt == "a" * (EXCERPT_BYTES - 1) + "b"


async def test_the_answer_is_read_up_to_exactly_the_excerpt_size_and_no_further() -> None:
    async with trickling(b"x" * (EXCERPT_BYTES // 2), b"y" * (EXCERPT_BYTES // 2)) as url:
        result = await send(url)

    assert result.ok, result.error
    assert result.response_excerpt == "x" * (EXCERPT_BYTES // 2) + "y" * (EXCERPT_BYTES // 2)


async def test_the_connection_pool_is_as_large_as_configured() -> None:
    default = OutboundClient(allow_private_targets=True)
    small = OutboundClient(allow_private_targets=True, max_connections=7)
    try:
        pools = [default.session().connector, small.session().connector]
        assert [pool.limit if pool is not None else None for pool in pools] == [500, 7]
    finally:
        await default.aclose()
        await small.aclose()


async def test_the_system_lookup_answers_the_host_it_was_asked_for() -> None:
    assert await system_lookup("192.0.2.7", 443) == ["192.0.2.7"]


async def test_a_resolution_without_a_port_answers_port_zero() -> None:
    async def documentation_address(host: str, port: int) -> list[str]:
        return ["192.0.2.10"]

    [answer] = await GuardedResolver(allow_private=True, lookup=documentation_address).resolve("hooks.test")

    assert (answer["host"], answer["port"], answer["family"]) == ("192.0.2.10", 0, socket.AF_INET)
