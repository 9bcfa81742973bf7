"""The real webhook sender against real loopback peers: every failure says why, in words.

These words become the `error` of the delivery's attempt (and of the worker's log line),
so a refused connection must read as one, not as a timeout.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest

from domain.notifications.model import new_signing_secret
from domain.notifications.ports import OutboundWebhook, SendResult
from integrations.outbound.sender import HttpWebhookSender, build_client
from integrations.telemetry import Telemetry
from tests.support.receiver import running_receiver

SHORT_TIMEOUT = 0.3


def webhook(url: str) -> OutboundWebhook:
    return OutboundWebhook(
        url=url,
        message_id="msg_failures",
        timestamp=datetime.now(UTC),
        body=b'{"id":"msg_failures"}',
        secrets=(new_signing_secret(),),
        trace_carrier={},
    )


async def send(url: str, *, attempt_timeout: float = 5.0, allow_private: bool = True) -> SendResult:
    telemetry = Telemetry("subgate-test")
    client = build_client()
    try:
        sender = HttpWebhookSender(client, telemetry, attempt_timeout, allow_private_targets=allow_private)
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
