"""What merchants receive: the body of every outbound notification type, as Structs.

The one registry of outbound types: `GET /openapi.json` lists them under `webhooks`, and the
portal's Event types page shows each one's description, JSON Schema and example from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal

import msgspec
from msgspec import Meta, Struct

from domain.shared.events import EventType
from domain.subscriptions.state_machine import SubscriptionStatus
from gateway.responses import json_values
from gateway.schemas.subscriptions import SubscriptionStanding


class NotifiedSubscription(SubscriptionStanding, frozen=True, kw_only=True):
    """The subscription right after the change, and what matches it to the merchant's records."""

    provider: str | None
    provider_subscription_id: str | None
    created_at: datetime
    updated_at: datetime
    provider_customer_id: str | None
    provider_price_id: str | None
    plan_name: str | None
    amount: Annotated[int | None, Meta(description="In the currency's minor unit (cents).")]
    currency: Annotated[str | None, Meta(description="Lower-case ISO 4217.")]
    interval: Literal["day", "week", "month", "year"] | None
    interval_count: int | None


class Payment(Struct, frozen=True, kw_only=True):
    provider_invoice_id: str | None
    amount: int | None
    currency: str | None


class FailedPayment(Payment, frozen=True, kw_only=True):
    failure: Literal["declined", "action_required"]
    attempt: int | None


class DisabledEndpoint(Struct, frozen=True, kw_only=True):
    id: str
    url: str
    description: str | None
    enabled: Literal[False]
    disabled_at: datetime
    reason: str


class TestedEndpoint(Struct, frozen=True, kw_only=True):
    id: str
    url: str
    description: str | None


class SubscriptionData(Struct, frozen=True, kw_only=True):
    subscription: NotifiedSubscription


class PaymentData(Struct, frozen=True, kw_only=True):
    subscription: NotifiedSubscription
    payment: Payment


class FailedPaymentData(Struct, frozen=True, kw_only=True):
    subscription: NotifiedSubscription
    payment: FailedPayment


class EndpointDisabledData(Struct, frozen=True, kw_only=True):
    endpoint: DisabledEndpoint


class EndpointTestData(Struct, frozen=True, kw_only=True):
    endpoint: TestedEndpoint
    requested_at: datetime


@dataclass(frozen=True, slots=True)
class NotificationType:
    event_type: EventType
    description: str
    body: type[Struct]
    example: dict[str, Any]

    def schema(self) -> dict[str, Any]:
        """The body's JSON Schema, with every definition it refers to."""
        return msgspec.json.schema(self.body)


_EXAMPLE_TIME: Final = datetime(2025, 6, 1, 9, 31, 12, tzinfo=UTC)
_SUBSCRIPTION: Final = NotifiedSubscription(
    id="subsg_01m8mkb2sy297sfef70tdsmye0",
    customer_id="cussg_01m8mkb2sy297sfef70tdsmydy",
    plan_id="plansg_01m8mkb2sy297sfef70tdsmydz",
    status=SubscriptionStatus.ACTIVE,
    current_period_start=datetime(2025, 6, 1, 9, 30, tzinfo=UTC),
    current_period_end=datetime(2025, 7, 1, 9, 30, tzinfo=UTC),
    cancel_at_period_end=False,
    trial_end=None,
    canceled_at=None,
    provider="stripe",
    provider_subscription_id="sub_1RKx2bLkdIwHu7ix",
    created_at=datetime(2025, 5, 1, 9, 30, 12, tzinfo=UTC),
    updated_at=_EXAMPLE_TIME,
    provider_customer_id="cus_S3kVbW1xQ9aZ",
    provider_price_id="price_1RKxPro",
    plan_name="Pro monthly",
    amount=4900,
    currency="eur",
    interval="month",
    interval_count=1,
)
_ENDPOINT_ID: Final = "epsg_01m8mkb2sy297sfef70tdsmye1"
_ENDPOINT_URL: Final = "https://example.com/webhooks"

_SUBSCRIPTION_TYPES: Final = {
    EventType.SUBSCRIPTION_CREATED: "A subscription was created (over REST, or first seen at a provider).",
    EventType.SUBSCRIPTION_ACTIVATED: "The subscription became active (from pending, trialing, past due...).",
    EventType.SUBSCRIPTION_RENEWED: "An active subscription moved on to a new period.",
    EventType.SUBSCRIPTION_UPDATED: "Any other visible change: the period, a cancel at its end, the trial...",
    EventType.SUBSCRIPTION_PAST_DUE: "A payment failed and the subscription is past due.",
    EventType.SUBSCRIPTION_CANCELED: "The subscription was canceled; final.",
    EventType.SUBSCRIPTION_EXPIRED: "The subscription expired without being paid; final.",
    EventType.SUBSCRIPTION_TRIAL_WILL_END: "The trial ends in three days.",
    EventType.SUBSCRIPTION_PAUSED: "The subscription was paused.",
    EventType.SUBSCRIPTION_RESUMED: "A paused subscription runs again.",
}


def _envelope(event_type: EventType, data: Struct) -> dict[str, Any]:
    body = {
        "id": "msgsg_01m8mkb2szdsd4c8hcegbvrqfx",
        "type": event_type.value,
        "created_at": _EXAMPLE_TIME,
        "data": data,
    }
    # Times as a notification carries them (`utc_text`), not as msgspec would write them.
    built: dict[str, Any] = json_values(body)
    return built


def _body(event_type: EventType, data: type[Struct]) -> type[Struct]:
    """`{id, type, created_at, data}` with this type's `type` and `data`."""
    name = "".join(part.title() for part in event_type.value.replace(".", "_").split("_")) + "Notification"
    fields = [
        ("id", Annotated[str, Meta(description="The message id, equal to the webhook-id header.")]),
        ("type", Literal[event_type.value]),
        ("created_at", datetime),
        ("data", data),
    ]
    return msgspec.defstruct(name, fields, kw_only=True, frozen=True)


def _other_types() -> tuple[tuple[EventType, str, type[Struct], Struct], ...]:
    paid = PaymentData(
        subscription=_SUBSCRIPTION,
        payment=Payment(provider_invoice_id="in_1RWa7hLkdIwHu7ixQ2", amount=4900, currency="eur"),
    )
    failed = FailedPaymentData(
        subscription=_SUBSCRIPTION,
        payment=FailedPayment(
            provider_invoice_id="in_1RWa7hLkdIwHu7ixQ2",
            amount=4900,
            currency="eur",
            failure="declined",
            attempt=1,
        ),
    )
    disabled = EndpointDisabledData(
        endpoint=DisabledEndpoint(
            id=_ENDPOINT_ID,
            url=_ENDPOINT_URL,
            description=None,
            enabled=False,
            disabled_at=_EXAMPLE_TIME,
            reason="the endpoint answered 410 Gone",
        )
    )
    tested = EndpointTestData(
        endpoint=TestedEndpoint(id=_ENDPOINT_ID, url=_ENDPOINT_URL, description=None),
        requested_at=_EXAMPLE_TIME,
    )
    return (
        (EventType.PAYMENT_SUCCEEDED, "An invoice of the subscription was paid.", PaymentData, paid),
        (
            EventType.PAYMENT_FAILED,
            "A payment attempt failed or needs the customer's action.",
            FailedPaymentData,
            failed,
        ),
        (
            EventType.ENDPOINT_DISABLED,
            "One of your endpoints was disabled (410 Gone, or failing for 5 days); sent to the others.",
            EndpointDisabledData,
            disabled,
        ),
        (
            EventType.ENDPOINT_TEST,
            "Sent on request from the portal (Send test event), to that one endpoint.",
            EndpointTestData,
            tested,
        ),
    )


def _registry() -> dict[EventType, NotificationType]:
    found = {
        kind: NotificationType(
            kind,
            text,
            _body(kind, SubscriptionData),
            _envelope(kind, SubscriptionData(subscription=_SUBSCRIPTION)),
        )
        for kind, text in _SUBSCRIPTION_TYPES.items()
    }
    for kind, text, data, example in _other_types():
        found[kind] = NotificationType(kind, text, _body(kind, data), _envelope(kind, example))
    return found


NOTIFICATION_TYPES: Final = _registry()
