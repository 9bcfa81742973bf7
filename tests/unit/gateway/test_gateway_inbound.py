"""Inbound webhooks: every answer in the contract's table, and what each one leaves behind.

Also what a provider is told, and what operators read, when an inbound webhook is refused or fails.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
from structlog.testing import capture_logs

from domain.shared.work import WorkKind
from integrations.providers.stripe.adapter import StripeAdapter
from integrations.providers.stripe.signature import sign_stripe_payload
from tests.unit.gateway.fakes import Gateway, make_gateway
from tests.unit.gateway.webhooks import (
    OLD_SECRET,
    SECRET,
    assert_nothing_kept,
    event_body,
    now_ts,
    post,
    stripe_connection,
    stripe_headers,
)

# --- accepted and duplicate ---------------------------------------------------------------


async def test_accepted_event_is_stored_byte_for_byte_and_workers_woken(gateway: Gateway) -> None:
    connection = await stripe_connection(gateway)
    body = event_body()

    status, answer = await post(gateway, connection.id, body, stripe_headers(body, SECRET, now_ts(gateway)))

    assert (status, answer) == (200, {"status": "accepted"})
    [stored] = gateway.store.documents("inbound_events")
    assert base64.b64decode(stored["body"]) == body
    assert stored["connection_id"] == connection.id
    assert stored["merchant_id"] == connection.merchant_id
    assert (stored["provider"], stored["provider_event_id"]) == ("stripe", "evt_1")
    assert stored["type"] == "customer.subscription.updated"
    assert stored["status"] == "accepted"
    assert stored["status"] == "accepted"
    assert gateway.signal.kinds == [WorkKind.INBOUND]


async def test_same_event_twice_is_a_duplicate_and_stored_once(gateway: Gateway) -> None:
    connection = await stripe_connection(gateway)
    body = event_body()
    headers = stripe_headers(body, SECRET, now_ts(gateway))

    first = await post(gateway, connection.id, body, headers)
    second = await post(gateway, connection.id, body, headers)

    assert first == (200, {"status": "accepted"})
    assert second == (200, {"status": "duplicate"})
    assert len(gateway.store.documents("inbound_events")) == 1
    assert gateway.signal.kinds == [WorkKind.INBOUND]


async def test_rotated_secrets_each_verify(gateway: Gateway) -> None:
    connection = await stripe_connection(gateway, secrets=(OLD_SECRET, SECRET))
    old_body, new_body = event_body("evt_old"), event_body("evt_new")

    old = await post(gateway, connection.id, old_body, stripe_headers(old_body, OLD_SECRET, now_ts(gateway)))
    new = await post(gateway, connection.id, new_body, stripe_headers(new_body, SECRET, now_ts(gateway)))

    assert old == new == (200, {"status": "accepted"})


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "application/vnd.event+json"])
async def test_json_content_type_variants_are_accepted(gateway: Gateway, content_type: str) -> None:
    connection = await stripe_connection(gateway)
    body = event_body()
    headers = stripe_headers(body, SECRET, now_ts(gateway), content_type=content_type)

    assert await post(gateway, connection.id, body, headers) == (200, {"status": "accepted"})


async def test_timestamp_at_the_edge_of_tolerance_is_accepted(gateway: Gateway) -> None:
    connection = await stripe_connection(gateway)
    body = event_body()
    signed_at = now_ts(gateway) - gateway.deps.config.webhook_tolerance_seconds

    assert await post(gateway, connection.id, body, stripe_headers(body, SECRET, signed_at)) == (
        200,
        {"status": "accepted"},
    )


# --- rejections: 400, 401, 404, 413, 415 ------------------------------------------------------


async def test_missing_signature_header_is_400(gateway: Gateway) -> None:
    connection = await stripe_connection(gateway)

    status, answer = await post(gateway, connection.id, event_body(), {"Content-Type": "application/json"})

    assert status == 400
    assert answer["error"]["type"] == "invalid_request"
    assert "Stripe-Signature" in answer["error"]["message"]
    assert_nothing_kept(gateway)


@pytest.mark.parametrize("header", ["garbage", "t=abc,v1=" + "0" * 64, "t=1736942400", "v1=zz"])
async def test_unparseable_signature_header_is_400(gateway: Gateway, header: str) -> None:
    connection = await stripe_connection(gateway)
    headers = {"Content-Type": "application/json", "Stripe-Signature": header}

    status, answer = await post(gateway, connection.id, event_body(), headers)

    assert status == 400
    assert answer["error"]["type"] == "invalid_request"
    assert_nothing_kept(gateway)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"id": "evt_1", "type": ', id="malformed-json"),
        pytest.param(b'["evt_1", "customer.subscription.updated"]', id="json-array"),
        pytest.param(b'"just a string"', id="json-string"),
        pytest.param(b'{"type": "customer.subscription.updated"}', id="no-event-id"),
        pytest.param(b"\xff\xfe not utf-8", id="not-utf8"),
    ],
)
async def test_signed_but_unusable_body_is_400(gateway: Gateway, body: bytes) -> None:
    connection = await stripe_connection(gateway)

    status, answer = await post(gateway, connection.id, body, stripe_headers(body, SECRET, now_ts(gateway)))

    assert status == 400
    assert answer["error"]["type"] == "invalid_request"
    assert_nothing_kept(gateway)


async def test_wrong_secret_is_401(gateway: Gateway) -> None:
    connection = await stripe_connection(gateway)
    body = event_body()

    status, answer = await post(
        gateway, connection.id, body, stripe_headers(body, "whsec_not_the_secret", now_ts(gateway))
    )

    assert status == 401
    assert answer["error"]["type"] == "invalid_signature"
    assert_nothing_kept(gateway)


async def test_body_changed_after_signing_is_401(gateway: Gateway) -> None:
    connection = await stripe_connection(gateway)
    signed = event_body()
    headers = stripe_headers(signed, SECRET, now_ts(gateway))
    # Same JSON value, different bytes: proves the raw bytes are what gets verified.
    reformatted = orjson.dumps(orjson.loads(signed))

    status, _ = await post(gateway, connection.id, reformatted, headers)

    assert status == 401
    assert_nothing_kept(gateway)


@pytest.mark.parametrize("skew", [-301, 301], ids=["expired", "future"])
async def test_timestamp_outside_tolerance_is_401(gateway: Gateway, skew: int) -> None:
    connection = await stripe_connection(gateway)
    body = event_body()

    status, answer = await post(
        gateway, connection.id, body, stripe_headers(body, SECRET, now_ts(gateway) + skew)
    )

    assert status == 401
    assert answer["error"]["type"] == "invalid_signature"
    assert_nothing_kept(gateway)


async def test_unknown_provider_is_404(gateway: Gateway) -> None:
    connection = await stripe_connection(gateway)
    body = event_body()

    status, answer = await post(
        gateway, connection.id, body, stripe_headers(body, SECRET, now_ts(gateway)), provider="paypal"
    )

    assert status == 404
    assert answer["error"]["type"] == "not_found"
    assert_nothing_kept(gateway)


async def test_unknown_connection_is_404(gateway: Gateway) -> None:
    await stripe_connection(gateway)
    body = event_body()

    status, answer = await post(gateway, "conn_missing", body, stripe_headers(body, SECRET, now_ts(gateway)))

    assert status == 404
    assert answer["error"]["type"] == "not_found"
    assert_nothing_kept(gateway)


async def test_connection_of_another_provider_is_404(tmp_path: Path) -> None:
    # "polar" is routed here (with any adapter) so the refusal comes from the connection lookup.
    gateway = make_gateway(tmp_path, providers={"stripe": StripeAdapter(), "polar": StripeAdapter()})
    connection = await stripe_connection(gateway)
    body = event_body()

    status, _ = await post(
        gateway, connection.id, body, stripe_headers(body, SECRET, now_ts(gateway)), provider="polar"
    )

    assert status == 404
    assert_nothing_kept(gateway)


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded", "json"])
async def test_non_json_content_type_is_415(gateway: Gateway, content_type: str | None) -> None:
    connection = await stripe_connection(gateway)
    body = event_body()
    headers = {"Stripe-Signature": sign_stripe_payload(body, SECRET, now_ts(gateway))}
    if content_type is not None:
        headers["Content-Type"] = content_type

    status, answer = await post(gateway, connection.id, body, headers)

    assert status == 415
    assert answer["error"]["type"] == "unsupported_media_type"
    assert_nothing_kept(gateway)


async def test_declared_length_over_the_limit_is_413_without_reading(tmp_path: Path) -> None:
    gateway = make_gateway(tmp_path, max_body_bytes=1024)
    connection = await stripe_connection(gateway)
    reads: list[str] = []
    sent: list[Mapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        reads.append("read")
        return {"type": "http.request", "body": b"x" * 2048, "more_body": False}

    async def send(message: Mapping[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": f"/webhooks/stripe/{connection.id}",
        "raw_path": f"/webhooks/stripe/{connection.id}".encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"2048")],
        "client": ("203.0.113.10", 40000),
        "server": ("gateway.test", 80),
    }
    await gateway.app(scope, receive, send)

    assert sent[0]["status"] == 413
    assert orjson.loads(sent[1]["body"])["error"]["type"] == "payload_too_large"
    assert reads == []
    assert_nothing_kept(gateway)


async def test_streamed_body_over_the_limit_is_413_and_reading_stops(tmp_path: Path) -> None:
    gateway = make_gateway(tmp_path, max_body_bytes=1024)
    connection = await stripe_connection(gateway)
    produced: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for index in range(100):
            produced.append(index)
            yield b"x" * 300

    async with gateway.client() as client:
        response = await client.post(
            f"/webhooks/stripe/{connection.id}",
            content=chunks(),
            headers={"Content-Type": "application/json", "Stripe-Signature": "t=1,v1=" + "0" * 64},
        )

    assert response.status_code == 413
    assert "content-length" not in response.request.headers
    # 4 chunks of 300 bytes cross 1024; nothing after that is pulled from the client.
    assert len(produced) == 4
    assert_nothing_kept(gateway)


async def test_body_exactly_at_the_limit_is_read(tmp_path: Path) -> None:
    body = event_body()
    gateway = make_gateway(tmp_path, max_body_bytes=len(body))
    connection = await stripe_connection(gateway)

    status, _ = await post(gateway, connection.id, body, stripe_headers(body, SECRET, now_ts(gateway)))

    assert status == 200


# --- what a refusal or a failure tells the provider and the operator ------------------------------
SPAN = "POST /webhooks/{provider}"
MALFORMED = "Stripe-Signature: timestamp is not a non-negative integer"


def inbound_lines(logs: Sequence[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
    return [line for line in logs if line["event"] == "inbound_webhook"]


async def test_each_answer_says_why_and_leaves_one_line_saying_the_same(gateway: Gateway) -> None:
    connection = await stripe_connection(gateway)
    body = event_body()
    good = stripe_headers(body, SECRET, now_ts(gateway))
    wrong_secret = stripe_headers(body, "whsec_not_the_secret", now_ts(gateway))

    with capture_logs() as logs:
        malformed = await post(
            gateway, connection.id, body, {**good, "Stripe-Signature": "t=abc,v1=" + "0" * 64}
        )
        rejected = await post(gateway, connection.id, body, wrong_secret)
        accepted = await post(gateway, connection.id, body, good)

    assert malformed == (
        400,
        {"error": {"type": "invalid_request", "message": MALFORMED}},
    )
    assert rejected == (
        401,
        {"error": {"type": "invalid_signature", "message": "no v1 signature matches a configured secret"}},
    )
    assert accepted == (200, {"status": "accepted"})
    seen = [
        (line["log_level"], line["outcome"], line["status_code"], line["reason"])
        for line in inbound_lines(logs)
    ]
    assert seen == [
        ("warning", "malformed_signature", 400, MALFORMED),
        ("warning", "signature_rejected", 401, "no v1 signature matches a configured secret"),
        ("info", "accepted", 200, None),
    ]
    for line in inbound_lines(logs):
        assert (line["provider"], line["connection_id"]) == ("stripe", connection.id)


async def test_a_store_outage_is_logged_as_an_error_and_marked_on_the_span(gateway: Gateway) -> None:
    connection = await stripe_connection(gateway)
    body = event_body()
    gateway.store.failing_writes = True

    with capture_logs() as logs:
        status, _ = await post(gateway, connection.id, body, stripe_headers(body, SECRET, now_ts(gateway)))

    assert status == 503
    [line] = inbound_lines(logs)
    assert line["log_level"] == "error"
    assert (line["outcome"], line["status_code"]) == ("unavailable", 503)
    assert (line["provider"], line["connection_id"]) == ("stripe", connection.id)
    assert line["error"] == "StorageError"
    [span] = [s for s in gateway.spans.get_finished_spans() if s.name == SPAN]
    assert span.attributes is not None
    assert span.attributes["subgate.outcome"] == "unavailable"


async def test_every_kind_of_refusal_is_logged_as_its_own_outcome(tmp_path: Path) -> None:
    gateway = make_gateway(tmp_path, max_body_bytes=512)
    connection = await stripe_connection(gateway)
    body = event_body()
    headers = stripe_headers(body, SECRET, now_ts(gateway))
    no_id = b'{"type": "customer.subscription.updated", "created": 1736942400}'

    with capture_logs() as logs:
        answers = [
            await post(gateway, connection.id, body, headers, provider="paypal"),
            await post(gateway, connection.id, body, {**headers, "Content-Type": "text/plain"}),
            await post(gateway, connection.id, b"{" + b" " * 600 + b"}", headers),
            await post(gateway, connection.id, no_id, stripe_headers(no_id, SECRET, now_ts(gateway))),
        ]

    assert [status for status, _ in answers] == [404, 415, 413, 400]
    assert answers[0][1]["error"]["message"] == "unknown provider 'paypal'"
    assert answers[1][1]["error"]["message"] == "Content-Type must be application/json"
    outcomes = [(line["outcome"], line["status_code"]) for line in inbound_lines(logs)]
    assert outcomes == [
        ("unknown_provider", 404),
        ("unsupported_media_type", 415),
        ("too_large", 413),
        ("malformed_event", 400),
    ]
    malformed = inbound_lines(logs)[-1]
    assert malformed["reason"] == answers[3][1]["error"]["message"]
    assert malformed["reason"] not in ("", "None")


async def test_an_accepted_event_is_logged_with_what_it_is_and_where_it_came_from(gateway: Gateway) -> None:
    connection = await stripe_connection(gateway)
    body = event_body()

    with capture_logs() as logs:
        await post(
            gateway, connection.id, body, stripe_headers(body, SECRET, now_ts(gateway)), peer="198.51.100.4"
        )

    [line] = inbound_lines(logs)
    assert line["event_type"] == "customer.subscription.updated"
    assert line["source_ip"] == "198.51.100.4"
    assert line["merchant_id"] == connection.merchant_id
    [stored] = gateway.store.documents("inbound_events")
    assert stored["provider_created_at"] == "2025-01-15T12:00:00.000000Z"  # the event's own `created`


async def test_a_store_outage_tells_the_provider_to_retry(gateway: Gateway) -> None:
    connection = await stripe_connection(gateway)
    body = event_body()
    gateway.store.failing_writes = True

    _, answer = await post(gateway, connection.id, body, stripe_headers(body, SECRET, now_ts(gateway)))

    assert answer["error"]["message"] == "the event could not be stored; nothing was accepted, retry later"
