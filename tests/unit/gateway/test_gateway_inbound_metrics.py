"""Every answer to a provider is counted in `subgate_inbound_events_total`, refusals by their reason."""

from __future__ import annotations

from tests.support.metrics import Scrape
from tests.unit.gateway.fakes import Gateway
from tests.unit.gateway.webhooks import SECRET, event_body, now_ts, post, stripe_connection, stripe_headers

EVENTS = "subgate_inbound_events_total"


def counted(gateway: Gateway, outcome: str) -> float:
    scrape = Scrape.parse(gateway.deps.telemetry.prometheus.render().decode())
    return scrape.value(EVENTS, provider="stripe", outcome=outcome)


async def test_refusals_and_outages_are_counted_by_reason(gateway: Gateway) -> None:
    connection = await stripe_connection(gateway)
    body = event_body()
    headers = stripe_headers(body, SECRET, now_ts(gateway))

    assert (await post(gateway, connection.id, body, {**headers, "Content-Type": "text/plain"}))[0] == 415
    assert (await post(gateway, connection.id, body, {"Content-Type": "application/json"}))[0] == 400
    assert (await post(gateway, "conn_nobody", body, headers))[0] == 404
    gateway.store.failing_writes = True
    assert (await post(gateway, connection.id, body, headers))[0] == 503
    gateway.store.failing_writes = False

    assert counted(gateway, "unsupported_media_type") == 1
    assert counted(gateway, "missing_signature") == 1
    assert counted(gateway, "unknown_connection") == 1
    assert counted(gateway, "unavailable") == 1
    assert counted(gateway, "accepted") == 0
