"""Customer emails: which notifications also become an email, and to which address.

An email is a delivery of the email channel: claimed, attempted, retried and dead-lettered
like a webhook (dead letters of kind `email`). Its recipient is resolved when the message
is fanned out, through the `RecipientDirectory` port.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from domain.shared.errors import ValidationFailed
from domain.shared.events import EventType
from domain.shared.outbox import OutboxMessage

EMAIL_EVENTS: frozenset[EventType] = frozenset(
    {
        EventType.SUBSCRIPTION_ACTIVATED,
        EventType.SUBSCRIPTION_RENEWED,
        EventType.PAYMENT_FAILED,
        EventType.SUBSCRIPTION_CANCELED,
        EventType.SUBSCRIPTION_TRIAL_WILL_END,
    }
)

# The status a subscription first seen is in when its creation also welcomes the customer.
_ACTIVE = "active"


def email_type(event_type: EventType, data: Mapping[str, Any]) -> EventType | None:
    """The customer email a notification makes, if any: its own type's, or the activation email
    for a subscription first seen already active (the usual checkout: a provider's subscription
    born active, with no move to `active` to tell of). A subscription is created once, so that
    email goes once per subscription."""
    if event_type in EMAIL_EVENTS:
        return event_type
    subscription = data.get("subscription")
    status = subscription.get("status") if isinstance(subscription, Mapping) else None
    if event_type == EventType.SUBSCRIPTION_CREATED and status == _ACTIVE:
        return EventType.SUBSCRIPTION_ACTIVATED
    return None


MAX_ADDRESS_LENGTH = 254
# Deliberately plain: one @, no spaces, quotes, angle brackets, commas or control characters,
# and a dotted domain. Anything fancier is refused rather than passed to a mail header.
_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
_LINE_BREAKS = re.compile(r"[\r\n\x00\x0b\x0c\x85\u2028\u2029]")


def has_line_break(value: str) -> bool:
    """CR, LF or another character a mail header could break on."""
    return _LINE_BREAKS.search(value) is not None


def check_header_text(field: str, value: str) -> str:
    """A value that ends up in a mail header (a name, a subject): no line breaks, or ValidationFailed."""
    if has_line_break(value):
        raise ValidationFailed(field, "must not contain line breaks (CR or LF)")
    return value


def check_address(field: str, value: str) -> str:
    """An email address fit for a `To:` header, or ValidationFailed (422 at the REST edge)."""
    check_header_text(field, value)
    if len(value) > MAX_ADDRESS_LENGTH or _ADDRESS.fullmatch(value) is None:
        raise ValidationFailed(field, "must be a plain email address such as name@example.com")
    return value


def customer_of(message: OutboxMessage) -> str | None:
    """The id of the customer a subscription's notification is about (its `data.subscription`)."""
    subscription = message.data.get("subscription")
    customer_id = subscription.get("customer_id") if isinstance(subscription, Mapping) else None
    return customer_id if isinstance(customer_id, str) and customer_id else None


def usable_address(value: object) -> str | None:
    """`value` when it is a usable address, else None (for addresses read from stored data)."""
    if not isinstance(value, str):
        return None
    try:
        return check_address("email", value.strip())
    except ValidationFailed:
        return None
