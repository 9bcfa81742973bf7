"""Inbound webhooks: store failures (503), the recorded source address, traces and logs."""

from __future__ import annotations

from pathlib import Path

from opentelemetry.trace import SpanKind
from structlog.testing import capture_logs

from tests.unit.gateway.fakes import Gateway, make_gateway
from tests.unit.gateway.webhooks import (
    SECRET,
    assert_nothing_kept,
    event_body,
    now_ts,
    post,
    stripe_connection,
    stripe_headers,
)

# --- 503: the store is down -----------------------------------------------------------------


async def test_store_unreachable_at_lookup_is_503(gateway: Gateway) -> None:
    connection = await stripe_connection(gateway)
    body = event_body()
    gateway.store.unavailable = True

    status, answer = await post(gateway, connection.id, body, stripe_headers(body, SECRET, now_ts(gateway)))

    assert status == 503
    assert answer["error"]["type"] == "service_unavailable"
    gateway.store.unavailable = False
    assert_nothing_kept(gateway)


async def test_store_failing_to_write_is_503_and_a_retry_is_accepted(gateway: Gateway) -> None:
    connection = await stripe_connection(gateway)
    body = event_body()
    headers = stripe_headers(body, SECRET, now_ts(gateway))
    gateway.store.failing_writes = True

    failed = await post(gateway, connection.id, body, headers)
    assert failed[0] == 503
    assert_nothing_kept(gateway)

    gateway.store.failing_writes = False
    assert await post(gateway, connection.id, body, headers) == (200, {"status": "accepted"})


# --- source_ip ------------------------------------------------------------------------------


async def accepted_source_ip(gateway: Gateway, peer: str, forwarded_for: str | None) -> str | None:
    connection = await stripe_connection(gateway)
    body = event_body()
    headers = stripe_headers(body, SECRET, now_ts(gateway))
    if forwarded_for is not None:
        headers["X-Forwarded-For"] = forwarded_for
    status, _ = await post(gateway, connection.id, body, headers, peer=peer)
    assert status == 200
    [stored] = gateway.store.documents("inbound_events")
    source_ip: str | None = stored["source_ip"]
    return source_ip


async def test_source_ip_is_the_peer_without_trusted_proxies(gateway: Gateway) -> None:
    assert await accepted_source_ip(gateway, "198.51.100.20", "192.0.2.1") == "198.51.100.20"


async def test_source_ip_walks_forwarded_for_behind_a_trusted_proxy(tmp_path: Path) -> None:
    gateway = make_gateway(tmp_path, trusted_proxies="10.0.0.0/8")

    source_ip = await accepted_source_ip(gateway, "10.0.0.5", "192.0.2.99, 198.51.100.7, 10.0.0.9")

    assert source_ip == "198.51.100.7"


async def test_forwarded_for_is_ignored_from_an_untrusted_peer(tmp_path: Path) -> None:
    gateway = make_gateway(tmp_path, trusted_proxies="10.0.0.0/8")

    assert await accepted_source_ip(gateway, "198.51.100.20", "192.0.2.1") == "198.51.100.20"


# --- tracing and logging ------------------------------------------------------------------


async def test_request_span_and_carrier_share_one_trace(gateway: Gateway) -> None:
    connection = await stripe_connection(gateway)
    body = event_body()

    await post(gateway, connection.id, body, stripe_headers(body, SECRET, now_ts(gateway)))

    [span] = [s for s in gateway.spans.get_finished_spans() if s.name == "POST /webhooks/{provider}"]
    assert span.kind == SpanKind.SERVER
    assert span.attributes is not None
    assert span.attributes["subgate.provider"] == "stripe"
    assert span.attributes["subgate.connection_id"] == connection.id
    assert span.attributes["subgate.outcome"] == "accepted"
    assert span.attributes["http.response.status_code"] == 200
    [stored] = gateway.store.documents("inbound_events")
    trace_id = stored["trace_carrier"]["traceparent"].split("-")[1]
    assert trace_id == format(span.context.trace_id, "032x")


async def test_one_log_line_per_outcome_without_body_or_secret(gateway: Gateway) -> None:
    connection = await stripe_connection(gateway)
    body = event_body()
    headers = stripe_headers(body, SECRET, now_ts(gateway))

    with capture_logs() as logs:
        await post(gateway, connection.id, body, headers)
        await post(gateway, connection.id, body, {**headers, "Stripe-Signature": "garbage"})

    lines = [entry for entry in logs if entry["event"] == "inbound_webhook"]
    assert [line["outcome"] for line in lines] == ["accepted", "malformed_signature"]
    assert lines[0]["provider_event_id"] == "evt_1"
    rendered = repr(logs)
    assert SECRET not in rendered
    # The body's own text never reaches a log line (ids are random: look for the whole phrase).
    assert "caf\\u00e9" not in rendered
    assert "café" not in rendered
    assert '"note"' not in rendered
    assert headers["Stripe-Signature"] not in rendered
