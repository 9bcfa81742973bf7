"""What a provider is told, and what operators read, when an inbound webhook is refused or fails.

The answer's message is the verifier's own reason; every outcome leaves one log line naming
the provider, connection, outcome, status and reason (warnings from 400 up), and the request
span carries the outcome, also when the store is down.
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from pathlib import Path
from typing import Any

from structlog.testing import capture_logs

from tests.unit.gateway.fakes import Gateway, make_gateway
from tests.unit.gateway.webhooks import SECRET, event_body, now_ts, post, stripe_connection, stripe_headers

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
