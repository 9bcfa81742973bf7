"""Events made up by `subgate events send paddle`, read back by the service's own Paddle adapter."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from domain.subscriptions.commands import RecordPayment, SyncSubscription
from domain.subscriptions.state_machine import SubscriptionStatus
from integrations.providers.interface import SignedRequest
from integrations.providers.paddle.adapter import PaddleAdapter
from integrations.providers.paddle.samples import EVENT_TYPES, SAMPLES, build_event, paddle_id
from integrations.providers.samples import EventSpec, encode
from subgate.cli import build_parser
from subgate.commands.events import send
from tests.support.signatures import PADDLE_SECRET as SECRET

NOW = datetime(2025, 1, 31, 12, 0, tzinfo=UTC)
END = datetime(2025, 2, 28, 12, 0, tzinfo=UTC)


def _spec(event_type: str, **fields: Any) -> EventSpec:
    return EventSpec(type=event_type, now=NOW, subscription_id="sub_abc", customer_id="ctm_abc", **fields)


def _commands(event: dict[str, Any]) -> Any:
    return PaddleAdapter().normalize(encode(event), "mer_1", "src_1")


@pytest.mark.parametrize("event_type", [t for t in EVENT_TYPES if t.startswith("subscription.")])
def test_every_subscription_event_is_a_snapshot_of_the_spec(event_type: str) -> None:
    [command] = _commands(build_event(_spec(event_type, amount=900, currency="eur")))

    assert isinstance(command, SyncSubscription)
    assert (command.provider_subscription_id, command.provider_customer_id) == ("sub_abc", "ctm_abc")
    assert (command.price.amount, command.price.currency, command.observed_at) == (900, "eur", NOW)
    expected = (
        SubscriptionStatus.CANCELED if event_type == "subscription.canceled" else SubscriptionStatus.ACTIVE
    )
    assert command.status is expected


def test_a_scheduled_cancel_and_a_completed_transaction_read_back() -> None:
    [scheduled] = _commands(build_event(_spec("subscription.updated", cancel_at_period_end=True)))
    [paid] = _commands(build_event(_spec("transaction.completed", amount=1500)))

    assert isinstance(scheduled, SyncSubscription)
    assert (scheduled.cancel_at_period_end, scheduled.current_period_end) == (True, END)
    assert isinstance(paid, RecordPayment)
    assert (paid.amount_paid, paid.renewal, paid.period_end) == (1500, True, END)


def test_a_signed_sample_verifies_and_its_envelope_reads() -> None:
    sample = SAMPLES.signed(_spec("subscription.updated", event_id="evt_given"), SECRET)
    adapter = PaddleAdapter()

    adapter.verify(
        SignedRequest(
            body=sample.body, headers=sample.headers, secrets=[SECRET], now=NOW, tolerance_seconds=300
        )
    )
    envelope = adapter.envelope(sample.body, sample.headers)

    assert sample.event_id == "evt_given"
    assert (envelope.event_id, envelope.type, envelope.created_at) == (
        "evt_given",
        "subscription.updated",
        NOW,
    )


def test_ids_are_new_unless_given_and_bad_choices_are_refused() -> None:
    first, second = (build_event(_spec("subscription.created")) for _ in range(2))

    assert first["event_id"] != second["event_id"]
    assert build_event(_spec("subscription.created", event_id="evt_mine"))["event_id"] == "evt_mine"
    assert paddle_id("txn").startswith("txn_")
    assert SAMPLES.customer_of("sub_abc") == SAMPLES.customer_of("sub_abc") != SAMPLES.customer_of("sub_abd")
    with pytest.raises(ValueError, match="unsupported Paddle event type"):
        build_event(_spec("invoice.paid"))
    with pytest.raises(ValueError, match="unsupported Paddle status"):
        build_event(_spec("subscription.created", status="incomplete"))


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["paddle", "invoice.paid"], "paddle events are subscription.created, "),
        (["stripe", "transaction.completed"], "stripe events are customer.subscription.created, "),
        (["paddle", "subscription.created", "--status", "incomplete"], "paddle statuses are active, "),
        (["paddle", "transaction.completed"], "transaction.completed needs --subscription"),
    ],
)
def test_a_type_of_another_provider_or_a_payment_without_its_subscription_is_a_usage_error(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = build_parser().parse_args(["events", "send", *argv, "--connection", "connsg_1"])

    assert send(args, None) == 2  # type: ignore[arg-type]  # refused before the settings are read
    assert said in capsys.readouterr().err
