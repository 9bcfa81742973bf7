"""What a provider is told, and what operators read, when an inbound webhook is refused or fails.

The answer's message is the verifier's own reason; every outcome leaves one log line naming
the provider, connection, outcome, status and reason (warnings from 400 up), and the request
span carries the outcome, also when the store is down.
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from typing import Any

from structlog.testing import capture_logs

from tests.unit.gateway.fakes import Gateway
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
