"""The metrics module on its own: outcomes as recorded, the journal hook, the settings that route them."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.notifications.model import Attempt, Channel, Delivery, DeliveryStatus
from domain.notifications.ports import SendResult
from domain.notifications.recording import AttemptResult
from domain.shared.events import EventType
from domain.shared.outbox import OutboxMessage
from integrations.telemetry.metrics import MeteredJournal
from integrations.telemetry.tracing import Telemetry, is_sampled, service_resource
from subgate.settings import load_settings
from tests.support.metrics import Scrape

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def delivery(status: DeliveryStatus, *, channel: Channel = Channel.WEBHOOK, attempts: int = 0) -> Delivery:
    tried = tuple(Attempt(at=NOW, status_code=500, duration_ms=3) for _ in range(attempts))
    return Delivery(
        id=f"dlv_{status.value}_{channel.value}",
        merchant_id="mer_1",
        endpoint_id=None if channel == Channel.EMAIL else "ep_1",
        message_id="msg_1",
        event_type="subscription.created",
        status=status,
        attempts=tried,
        next_attempt_at=None,
        created_at=NOW,
        updated_at=NOW,
        channel=channel,
    )


def scrape(telemetry: Telemetry) -> Scrape:
    return Scrape.parse(telemetry.prometheus.render().decode())


def test_recorded_deliveries_count_by_channel_and_outcome() -> None:
    telemetry = Telemetry("t")
    parked = delivery(DeliveryStatus.PENDING)
    dead_email = delivery(DeliveryStatus.DEAD, channel=Channel.EMAIL, attempts=3)
    succeeded = delivery(DeliveryStatus.SUCCEEDED, attempts=2)
    results = [
        AttemptResult(claimed=parked, deferred=True),
        AttemptResult(claimed=dead_email, problem="SMTP 550"),
        AttemptResult(claimed=succeeded, result=SendResult(status_code=200, duration_ms=1)),
    ]
    telemetry.metrics.deliveries_recorded(results, [parked, dead_email, succeeded])

    seen = scrape(telemetry)
    assert seen.value("subgate_deliveries_total", channel="webhook", outcome="deferred") == 1
    assert seen.value("subgate_deliveries_total", channel="webhook", outcome="pending") == 0
    assert seen.value("subgate_deliveries_total", channel="email", outcome="dead") == 1
    assert seen.value("subgate_dead_letters_total", kind="email") == 1
    assert seen.value("subgate_dead_letters_total", kind="webhook") == 0
    assert seen.value("subgate_delivery_attempts_sum", channel="email", outcome="dead") == 3
    assert seen.value("subgate_delivery_attempts_sum", channel="webhook", outcome="succeeded") == 2


def test_latency_runs_from_the_messages_creation_and_counts_successes_only() -> None:
    telemetry = Telemetry("t")
    message = OutboxMessage(
        id="msg_1",
        merchant_id="mer_1",
        event_type=EventType.SUBSCRIPTION_CREATED,
        subject_id="sub_1",
        occurred_at=NOW,
        data={},
    )
    claimed = delivery(DeliveryStatus.PENDING)
    ok = AttemptResult(claimed=claimed, result=SendResult(status_code=204, duration_ms=1))
    telemetry.metrics.attempt_recorded(ok, message, NOW + timedelta(seconds=3))
    refused = AttemptResult(claimed=claimed, result=SendResult(status_code=503, duration_ms=1))
    telemetry.metrics.attempt_recorded(refused, message, NOW + timedelta(seconds=9))
    telemetry.metrics.attempt_recorded(replace(ok, deferred=True), message, NOW + timedelta(seconds=9))

    seen = scrape(telemetry)
    assert seen.value("subgate_delivery_latency_seconds_count", channel="webhook") == 1
    assert seen.value("subgate_delivery_latency_seconds_sum", channel="webhook") == 3


class ListJournal:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def info(self, event: str, **_: Any) -> None:
        self.lines.append(("info", event))

    def warning(self, event: str, **_: Any) -> None:
        self.lines.append(("warning", event))


def test_the_journal_counts_disabled_endpoints_and_passes_every_line_on() -> None:
    telemetry = Telemetry("t")
    inner = ListJournal()
    journal = MeteredJournal(inner, telemetry.metrics)
    journal.warning("endpoint_disabled", endpoint_id="ep_1")
    journal.warning("delivery_order_given_up", delivery_id="dlv_1")
    journal.info("email_not_sent")

    assert scrape(telemetry).value("subgate_endpoints_disabled_total") == 1
    assert inner.lines == [
        ("warning", "endpoint_disabled"),
        ("warning", "delivery_order_given_up"),
        ("info", "email_not_sent"),
    ]


@pytest.mark.parametrize(
    ("carrier", "sampled"),
    [
        ({"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}, True),
        ({"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"}, False),
        ({"traceparent": "garbage"}, False),
        ({}, False),
    ],
)
def test_a_carrier_says_whether_its_trace_is_recorded(carrier: dict[str, str], sampled: bool) -> None:
    assert is_sampled(carrier) is sampled


def test_otel_service_name_wins_over_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    assert service_resource("subgate").attributes["service.name"] == "subgate"
    monkeypatch.setenv("OTEL_SERVICE_NAME", "subgate-worker")
    assert service_resource("subgate").attributes["service.name"] == "subgate-worker"


def test_metrics_follow_the_traces_endpoint_unless_set_apart() -> None:
    base = {"SUBGATE_OTLP_ENDPOINT": "http://collector:4318"}
    assert load_settings(base, dotenv=None).otlp_metrics_endpoint == "http://collector:4318"
    apart = load_settings(
        {**base, "SUBGATE_OTLP_METRICS_ENDPOINT": "http://prom:9090/api/v1/otlp"}, dotenv=None
    )
    assert apart.otlp_metrics_endpoint == "http://prom:9090/api/v1/otlp"
    assert (
        load_settings({**base, "SUBGATE_OTLP_METRICS_ENDPOINT": "none"}, dotenv=None).otlp_metrics_endpoint
        is None
    )
    assert load_settings({}, dotenv=None).otlp_metrics_endpoint is None


def test_the_metrics_token_is_read_and_unset_by_default() -> None:
    assert load_settings({}, dotenv=None).metrics_token is None
    assert load_settings({"SUBGATE_METRICS_TOKEN": "s3cret"}, dotenv=None).metrics_token == "s3cret"
