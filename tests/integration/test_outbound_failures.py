"""The real webhook sender against real loopback peers: every answer and failure, in words.

These words become the `error` of the delivery's attempt (and of the worker's log line),
so a refused connection must read as one, not as a timeout. The target guard runs here with
the setting off, and the pinned connect with a resolver stub whose answers change.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest
from aiohttp import web

from domain.notifications.model import new_signing_secret
from domain.notifications.ports import OutboundWebhook, SendResult
from integrations.delivery.http.resolver import Classify, Lookup, system_lookup
from integrations.delivery.http.sender import MAX_RETRY_AFTER, HttpWebhookSender, OutboundClient
from integrations.delivery.http.targets import address_class
from integrations.telemetry.tracing import Telemetry
from tests.support.receiver import running_receiver

SHORT_TIMEOUT = 0.3


def webhook(url: str) -> OutboundWebhook:
    return OutboundWebhook(
        url=url,
        message_id="msg_failures",
        timestamp=datetime.now(UTC),
        body=b'{"id":"msg_failures"}',
        secrets=(new_signing_secret(),),
    )


async def send(
    url: str,
    *,
    attempt_timeout: float = 5.0,
    allow_private: bool = True,
    lookup: Lookup = system_lookup,
    classify: Classify = address_class,
) -> SendResult:
    telemetry = Telemetry("subgate-test")
    client = OutboundClient(allow_private_targets=allow_private, lookup=lookup, classify=classify)
    try:
        sender = HttpWebhookSender(client, telemetry, attempt_timeout)
        return await sender.send(webhook(url))
    finally:
        await client.aclose()
        telemetry.shutdown()


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that is bound (so nobody else takes it) but not listening: connects are refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@asynccontextmanager
async def silent_server() -> AsyncIterator[str]:
    """Accepts connections and reads the request, but never answers."""
    connections: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        await reader.read(65536)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hooks"
    finally:
        server.close()
        for writer in connections:
            writer.close()
        await server.wait_closed()


async def test_a_refused_connection_is_recorded_as_refused_not_as_a_timeout(closed_port: int) -> None:
    result = await send(f"http://127.0.0.1:{closed_port}/hooks")

    assert result.status_code is None
    assert not result.ok
    assert result.error == "connection refused"


async def test_a_peer_that_never_answers_times_out_after_the_attempt_timeout() -> None:
    async with silent_server() as url:
        result = await send(url, attempt_timeout=SHORT_TIMEOUT)

    assert result.status_code is None
    assert result.error == f"timed out after {SHORT_TIMEOUT:g}s"
    assert result.duration_ms >= SHORT_TIMEOUT * 1000 * 0.9


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (500, "HTTP 500 Internal Server Error"),
        (503, "HTTP 503 Service Unavailable"),
        (404, "HTTP 404 Not Found"),
        (302, "HTTP 302 Found (redirects are not followed)"),
        (599, "HTTP 599"),
    ],
)
async def test_an_error_answer_is_recorded_with_its_status(status: int, error: str) -> None:
    async with running_receiver(lambda _n: status) as receiver:
        result = await send(receiver.url)

    assert len(receiver.received) == 1
    assert result.status_code == status
    assert result.error == error


async def test_a_success_carries_no_error() -> None:
    async with running_receiver(lambda _n: 204) as receiver:
        result = await send(receiver.url)

    assert result.ok
    assert result.error is None


async def test_a_private_target_is_refused_at_delivery_naming_the_setting() -> None:
    async with running_receiver() as receiver:
        result = await send(receiver.url, allow_private=False)

    assert receiver.received == []
    assert result.status_code is None
    assert result.error is not None
    assert result.error.startswith("refused target: '127.0.0.1' is a loopback address")
    assert "SUBGATE_ALLOW_PRIVATE_TARGETS" in result.error


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
async def test_any_2xx_is_a_success(status: int) -> None:
    async with running_receiver(lambda _n: status) as receiver:
        result = await send(receiver.url)

    assert result.ok
    assert result.status_code == status


async def test_gone_is_reported_as_410() -> None:
    async with running_receiver(lambda _n: 410) as receiver:
        result = await send(receiver.url)

    assert not result.ok
    assert result.status_code == 410
    assert result.error == "HTTP 410 Gone"


@asynccontextmanager
async def answering(status: int, headers: dict[str, str]) -> AsyncIterator[tuple[str, list[web.Request]]]:
    """A loopback server answering every POST with `status` and `headers`; the requests it saw."""
    seen: list[web.Request] = []

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        seen.append(request)
        return web.Response(status=status, headers=headers, text="answer")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # aiohttp exposes no public accessor
    try:
        yield f"http://127.0.0.1:{port}/hooks", seen
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(
    ("status", "retry_after", "expected"),
    [
        (429, "120", 120.0),
        (503, "30", 30.0),
        (429, "86400000", MAX_RETRY_AFTER),  # capped: an endpoint cannot park a message for years
        (429, "soon", None),
        (500, "120", None),  # only 429 and 503 ask for a pause
    ],
)
async def test_retry_after_is_read_on_429_and_503_within_the_cap(
    status: int, retry_after: str, expected: float | None
) -> None:
    async with answering(status, {"Retry-After": retry_after}) as (url, _):
        result = await send(url)

    assert result.status_code == status
    assert result.retry_after == expected


async def test_a_redirect_is_not_followed() -> None:
    async with running_receiver() as target, answering(307, {"Location": target.url}) as (url, seen):
        result = await send(url)

    assert len(seen) == 1
    assert target.received == []
    assert result.status_code == 307
    assert result.error == "HTTP 307 Temporary Redirect (redirects are not followed)"


class ChangingResolver:
    """A DNS stub: each look-up of a name gets the next answer, as a rebinding attacker's server would."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:  # noqa: ARG002 - the Lookup signature
        self.asked.append(host)
        return self.answers.pop(0)


def loopback_counts_as_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """This test's notion of "public": 127.0.0.1, which stands for a real public server here."""
    return None if str(address) == "127.0.0.1" else address_class(address)


async def test_the_connection_goes_to_the_checked_address_with_the_original_host() -> None:
    dns = ChangingResolver(["127.0.0.1"], ["127.0.0.2"])
    async with running_receiver() as receiver:
        port = receiver.url.split(":")[2].split("/")[0]
        url = f"http://hooks.example.test:{port}/hooks"

        first = await send(url, allow_private=False, lookup=dns, classify=loopback_counts_as_public)
        # The next look-up answers a private address: refused before any connection is made.
        second = await send(url, allow_private=False, lookup=dns, classify=loopback_counts_as_public)

    assert first.ok, first.error
    assert dns.asked == ["hooks.example.test", "hooks.example.test"]
    [got] = receiver.received
    assert got.headers["Host"] == f"hooks.example.test:{port}"
    assert second.status_code is None
    assert second.error == (
        "refused target: 'hooks.example.test' resolves to a loopback address (127.0.0.2); "
        "non-public targets (loopback, private, link-local, unspecified, multicast, reserved, CGNAT) "
        "are refused unless SUBGATE_ALLOW_PRIVATE_TARGETS=true (meant for development and tests only)"
    )


async def test_one_private_address_among_the_answers_refuses_the_host() -> None:
    dns = ChangingResolver(["127.0.0.1", "10.1.2.3"])
    async with running_receiver() as receiver:
        port = receiver.url.split(":")[2].split("/")[0]
        result = await send(
            f"http://hooks.example.test:{port}/hooks",
            allow_private=False,
            lookup=dns,
            classify=loopback_counts_as_public,
        )

    assert receiver.received == []
    assert result.error is not None
    assert "'hooks.example.test' resolves to a private address (10.1.2.3)" in result.error


async def test_with_private_targets_allowed_a_private_answer_is_connected_to() -> None:
    dns = ChangingResolver(["127.0.0.1"])
    async with running_receiver() as receiver:
        port = receiver.url.split(":")[2].split("/")[0]
        result = await send(f"http://hooks.example.test:{port}/hooks", allow_private=True, lookup=dns)

    assert result.ok, result.error
    assert len(receiver.received) == 1


async def test_a_name_that_does_not_resolve_says_so() -> None:
    async def nowhere(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    result = await send("http://nowhere.example.test/hooks", allow_private=False, lookup=nowhere)

    assert result.status_code is None
    assert result.error == "cannot resolve host: Name or service not known"
