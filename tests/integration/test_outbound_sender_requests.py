"""What the webhook sender puts on the wire, what it keeps of the answer, and what its span says.

A real sender against real loopback peers. Signatures are checked with the svix library (a
Standard Webhooks implementation of its own), not with our signing code.
"""

from __future__ import annotations

import gzip
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest
from aiohttp import web
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from svix.webhooks import Webhook

from domain.notifications.model import new_signing_secret
from domain.notifications.ports import OutboundWebhook, SendResult
from integrations.delivery.http.sender import USER_AGENT, HttpWebhookSender, OutboundClient
from integrations.telemetry.tracing import Telemetry
from tests.support.receiver import running_receiver

BODY = b'{"id":"msg_wire","type":"subscription.updated","data":{"note":"caf\\u00e9"}}'


def sent_now() -> datetime:
    # Taken when the test runs, not when the module is collected: svix checks it against its own
    # clock with a five-minute tolerance, which a long test session outlasts.
    return datetime.now(UTC).replace(microsecond=0)


def webhook(url: str, secrets: tuple[str, ...], sent_at: datetime) -> OutboundWebhook:
    return OutboundWebhook(url=url, message_id="msg_wire", timestamp=sent_at, body=BODY, secrets=secrets)


async def send(
    url: str, secrets: tuple[str, ...] = ("whsec_" + "A" * 32,), sent_at: datetime | None = None
) -> tuple[SendResult, ReadableSpan]:
    spans = InMemorySpanExporter()
    telemetry = Telemetry("subgate-test", extra_processors=(SimpleSpanProcessor(spans),))
    client = OutboundClient(allow_private_targets=True)
    try:
        result = await HttpWebhookSender(client, telemetry, 5.0).send(
            webhook(url, secrets, sent_at or sent_now())
        )
    finally:
        await client.aclose()
        telemetry.shutdown()
    [span] = spans.get_finished_spans()
    return result, span


@asynccontextmanager
async def answering(status: int, body: bytes, headers: dict[str, str] | None = None) -> AsyncIterator[str]:
    async def handle(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=status, body=body, headers=headers)

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # aiohttp exposes no public accessor
    try:
        yield f"http://127.0.0.1:{port}/hooks"
    finally:
        await runner.cleanup()


@pytest.fixture
def closed_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


async def test_the_request_carries_the_exact_body_and_standard_webhook_headers() -> None:
    old, new = new_signing_secret(), new_signing_secret()
    sent_at = sent_now()
    async with running_receiver() as receiver:
        result, _ = await send(receiver.url, (new, old), sent_at)

    assert result.ok
    [got] = receiver.received
    headers = {name.lower(): value for name, value in got.headers.items()}
    assert got.body == BODY
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == USER_AGENT
    assert headers["webhook-id"] == "msg_wire"
    assert headers["webhook-timestamp"] == str(int(sent_at.timestamp()))
    assert "accept-encoding" not in headers
    entries = headers["webhook-signature"].split(" ")
    assert len(entries) == 2
    for secret, entry in zip((new, old), entries, strict=True):
        only_this = {**headers, "webhook-signature": entry}
        Webhook(secret).verify(BODY, only_this)  # raises unless this entry is this secret's


async def test_the_answer_keeps_its_first_two_kilobytes_as_text() -> None:
    async with answering(500, b"\xff" + b"a" * 5000) as url:
        result, _ = await send(url)

    assert result.response_excerpt == "\ufffd" + "a" * 2047
    assert 0 <= result.duration_ms < 5000


async def test_a_compressed_answer_is_kept_as_sent_never_inflated() -> None:
    packed = gzip.compress(b"hello " * 100)
    async with answering(200, packed, {"Content-Encoding": "gzip"}) as url:
        result, _ = await send(url)

    assert result.ok
    assert result.response_excerpt is not None
    assert "hello" not in result.response_excerpt


async def test_a_proxy_in_the_environment_is_not_used(
    monkeypatch: pytest.MonkeyPatch, closed_port: int
) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{closed_port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)

    async with running_receiver() as receiver:
        result, _ = await send(receiver.url)

    assert result.ok, result.error
    assert len(receiver.received) == 1


async def test_a_delivered_webhook_leaves_a_client_span_with_its_request_and_answer() -> None:
    async with running_receiver() as receiver:
        _, span = await send(receiver.url)

    assert (span.name, span.kind) == ("POST webhook", SpanKind.CLIENT)
    assert dict(span.attributes or {}) == {
        "http.request.method": "POST",
        "url.full": receiver.url,
        "webhook.id": "msg_wire",
        "http.response.status_code": 200,
    }
    assert span.status.status_code == StatusCode.UNSET


async def test_a_refused_answer_marks_the_span_as_an_error_saying_why() -> None:
    async with running_receiver(lambda _n: 500) as receiver:
        _, span = await send(receiver.url)

    assert span.status.status_code == StatusCode.ERROR
    assert span.status.description == "HTTP 500 Internal Server Error"
    assert (span.attributes or {})["http.response.status_code"] == 500


async def test_a_failed_connection_marks_the_span_without_a_status_code(closed_port: int) -> None:
    _, span = await send(f"http://127.0.0.1:{closed_port}/hooks")

    assert span.status.status_code == StatusCode.ERROR
    assert span.status.description == "connection refused"
    assert "http.response.status_code" not in (span.attributes or {})
