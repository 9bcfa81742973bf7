"""Application-wide behaviour: routing errors, unexpected failures, probes, tracing, lifespan."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from domain.merchants.external import NewConnection
from gateway.app import create_app
from integrations.providers.interface import Envelope, Ignored, ProviderAdapter
from integrations.providers.stripe.signature import sign_stripe_payload
from tests.unit.gateway.fakes import Gateway, make_gateway

SECRET = "whsec_app_tests_secret"


class ExplodingAdapter(ProviderAdapter):
    """A provider whose verification hits a bug, to see what an unexpected failure looks like."""

    name = "exploding"

    def verify(self, *_: object, **__: object) -> None:
        raise RuntimeError("internal detail: database password is hunter2")

    def envelope(self, *_: object, **__: object) -> Envelope:
        raise AssertionError("never reached")

    def normalize(self, *_: object, **__: object) -> Ignored:
        raise AssertionError("never reached")


def assert_json_error(response: httpx.Response, status: int, error_type: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["type"] == error_type


async def test_unknown_routes_are_json_404(gateway: Gateway) -> None:
    async with gateway.client() as client:
        for path in ("/nowhere", "/v1/nowhere", "/webhooks/stripe"):
            assert_json_error(await client.get(path), 404, "not_found")


async def test_wrong_methods_are_json_405_with_allow(gateway: Gateway) -> None:
    async with gateway.client() as client:
        webhook = await client.get("/webhooks/stripe/conn_1")
        health = await client.post("/healthz")

    assert_json_error(webhook, 405, "method_not_allowed")
    assert webhook.headers["allow"] == "POST"
    assert_json_error(health, 405, "method_not_allowed")


async def test_wrong_method_on_v1_is_405(gateway: Gateway) -> None:
    _, key = await gateway.merchant()
    async with gateway.client(api_key=key) as client:
        response = await client.delete("/v1/connections")

    assert_json_error(response, 405, "method_not_allowed")
    assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD", "POST"}


async def test_head_is_answered_where_get_is(gateway: Gateway) -> None:
    _, key = await gateway.merchant()
    async with gateway.client(api_key=key) as client:
        response = await client.head("/v1/endpoints")

    assert response.status_code == 200


async def test_unexpected_exception_is_a_generic_500_with_a_logged_traceback(tmp_path: Path) -> None:
    gateway = make_gateway(tmp_path, providers={"stripe": ExplodingAdapter()})
    merchant, _ = await gateway.merchant()
    connection = await gateway.deps.merchants.create_connection(
        merchant.id, NewConnection(provider="stripe", webhook_secrets=[SECRET])
    )
    body = b'{"id": "evt_1", "type": "invoice.paid"}'
    headers = {"Content-Type": "application/json", "Stripe-Signature": sign_stripe_payload(body, SECRET, 1)}
    # The app re-raises after answering (so servers can log too); the transport must not.
    transport = httpx.ASGITransport(app=gateway.app, raise_app_exceptions=False)

    with capture_logs() as logs:
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
            response = await client.post(f"/webhooks/stripe/{connection.id}", content=body, headers=headers)

    assert_json_error(response, 500, "internal_error")
    assert "hunter2" not in response.text
    [logged] = [entry for entry in logs if entry["event"] == "unhandled_exception"]
    assert isinstance(logged["exc_info"], RuntimeError)
    assert gateway.store.documents("inbound_events") == []


async def test_healthz(gateway: Gateway) -> None:
    async with gateway.client() as client:
        response = await client.get("/healthz")

    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_readyz_reports_each_check(gateway: Gateway) -> None:
    async with gateway.client() as client:
        ready = await client.get("/readyz")
        gateway.readiness["redis"] = False
        not_ready = await client.get("/readyz")

    assert (ready.status_code, ready.json()) == (
        200,
        {"status": "ok", "checks": {"store": True, "redis": True}},
    )
    assert not_ready.status_code == 503
    assert not_ready.json() == {"status": "unavailable", "checks": {"store": True, "redis": False}}


async def test_readyz_is_503_when_the_check_itself_fails(tmp_path: Path) -> None:
    gateway = make_gateway(tmp_path)

    async def broken() -> Mapping[str, bool]:
        raise ConnectionError("redis refused")

    app = create_app(replace(gateway.deps, readiness=broken))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        response = await client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"


async def test_rest_spans_are_named_after_the_route_template(gateway: Gateway) -> None:
    _, key = await gateway.merchant()
    async with gateway.client(api_key=key) as client:
        await client.get("/v1/connections/conn_123")
        await client.get("/healthz")
        await client.get("/missing")

    names = [span.name for span in gateway.spans.get_finished_spans()]
    assert names == ["GET /v1/connections/{connection_id}", "GET"]


async def test_incoming_trace_context_is_continued(gateway: Gateway) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    async with gateway.client() as client:
        await client.get("/nowhere", headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"})

    [span] = gateway.spans.get_finished_spans()
    assert format(span.context.trace_id, "032x") == trace_id


async def test_invalid_trusted_proxies_fail_at_creation(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not-an-ip"):
        make_gateway(tmp_path, trusted_proxies="10.0.0.0/8, not-an-ip")


async def test_invalid_content_length_is_400(gateway: Gateway) -> None:
    _, key = await gateway.merchant()
    sent: list[Mapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: Mapping[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/endpoints",
        "raw_path": b"/v1/endpoints",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"authorization", f"Bearer {key}".encode()), (b"content-length", b"-5")],
        "client": ("203.0.113.10", 40000),
        "server": ("gateway.test", 80),
    }
    await gateway.app(scope, receive, send)

    assert sent[0]["status"] == 400


async def test_lifespan_starts_and_stops(gateway: Gateway) -> None:
    messages: Iterator[dict[str, Any]] = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[str] = []

    async def receive() -> dict[str, Any]:
        return next(messages)

    async def send(message: Mapping[str, Any]) -> None:
        sent.append(message["type"])

    with capture_logs() as logs:
        await gateway.app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)

    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert [entry["event"] for entry in logs] == ["gateway_started", "gateway_stopped"]
