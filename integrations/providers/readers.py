"""Reading values out of provider payloads, shared by every provider adapter.

Each reader takes a value from a decoded payload and the name to blame (`what`), and answers
the value in the shape asked for or raises PayloadError naming it. `json_object` and
`checked_envelope` are for the door (MalformedRequest: a 400 before anything is stored).

`provider_time` is the one place a time a provider sent becomes a datetime: every time an
adapter reads (an envelope's at the door, a payload's in the worker) goes through it. It
answers an aware UTC datetime within `EARLIEST`..`LATEST`, or raises PayloadError naming the
field. The range is what every later step can hold without overflowing: no subscription
predates the unix epoch (Stripe cannot even express one), and the last second of year 9999
leaves room for the microseconds a tie-break adds within that second. An offset that would
carry the time past either end of the calendar on its way to UTC (`0001-01-01T00:00:00+01:00`)
is refused the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from domain.subscriptions.model import Interval
from domain.subscriptions.state_machine import SubscriptionStatus as S
from integrations.providers.interface import (
    Context,
    Envelope,
    Handler,
    Ignored,
    MalformedRequest,
    Normalized,
    PayloadError,
)

EARLIEST: Final = datetime(1970, 1, 1, tzinfo=UTC)
LATEST: Final = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
EARLIEST_UNIX: Final = 0
LATEST_UNIX: Final = 253_402_300_799  # LATEST in unix seconds
# ISO 8601 text longer than this is no timestamp (the longest sensible one has about 32 characters).
MAX_TIME_TEXT: Final = 40
_RANGE: Final = "from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z"
# An event id or type longer than this is no provider's.
MAX_NAME_LENGTH: Final = 255
# The metadata key that names our own subscription on a provider's object.
LINK_KEY: Final = "subgate_subscription_id"


def json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object; MalformedRequest otherwise."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise MalformedRequest(f"body is not valid JSON: {error}") from None
    if not isinstance(parsed, dict):
        raise MalformedRequest("body is not a JSON object")
    return parsed


def checked_envelope(
    event_id: Any, event_type: Any, created: Callable[[], datetime | None], *, id_name: str = "event id"
) -> Envelope:
    """The envelope of an event as the door reads it; MalformedRequest names what is wrong."""
    if not isinstance(event_id, str) or not event_id or len(event_id) > MAX_NAME_LENGTH:
        raise MalformedRequest(f"{id_name} is missing")
    if not isinstance(event_type, str) or not event_type or len(event_type) > MAX_NAME_LENGTH:
        raise MalformedRequest("event type is missing")
    try:
        created_at = created()
    except PayloadError as error:
        raise MalformedRequest(str(error)) from None
    return Envelope(event_id=event_id, type=event_type, created_at=created_at)


@dataclass(frozen=True, slots=True)
class EventFields:
    """Where a provider's event envelope keeps its type and its time, and how to read the time."""

    type: str
    time: str
    read_time: Callable[[Any, str], datetime | None]

    def created(self, event: dict[str, Any]) -> datetime | None:
        return self.read_time(event.get(self.time), self.time)


def dispatched(
    event: dict[str, Any],
    table: Mapping[str, Handler],
    fields: EventFields,
    merchant_id: str,
    source_key: str,
) -> Normalized:
    """An event whose `data` holds its whole object, handed to its type's entry in `table`."""
    event_type = str(event.get(fields.type))
    handler = table.get(event_type)
    if handler is None:
        return Ignored(reason=f"event type {event.get(fields.type)!r} is not handled")
    ctx = Context(
        merchant_id=merchant_id, source_key=source_key, event_type=event_type, created=fields.created(event)
    )
    return handler(obj(event.get("data"), "data"), ctx)


def obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PayloadError(f"{what} is not an object")
    return value


def text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise PayloadError(f"{what} is missing or not a string")
    return value


def count(value: Any, what: str) -> int:
    """A non-negative integer (amounts in minor units, attempt and interval counts)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise PayloadError(f"{what} is not a non-negative integer")
    return value


def interval(value: Any, what: str) -> Interval:
    """A billing interval: day, week, month or year."""
    try:
        return Interval(str(value))
    except ValueError:
        raise PayloadError(f"{what} {value!r} is not day, week, month or year") from None


# Stripe's subscription statuses, which Polar took over (but for `paused`); each provider's
# payload readers say which of them it sends.
STATUS_WORDS: Final = {
    "incomplete": S.PENDING,
    "incomplete_expired": S.EXPIRED,
    "trialing": S.TRIALING,
    "active": S.ACTIVE,
    "past_due": S.PAST_DUE,
    "unpaid": S.UNPAID,
    "canceled": S.CANCELED,
    "paused": S.PAUSED,
}


def status(value: Any, words: dict[str, S]) -> S:
    """A provider's status word as ours; PayloadError for a word the provider is not known to send."""
    if not isinstance(value, str) or value not in words:
        raise PayloadError(f"unknown subscription status {value!r}")
    return words[value]


def metadata_link(container: Any, field: str = "metadata") -> str | None:
    """Our subscription's id in an object's metadata (`subgate_subscription_id`), if it names one.

    `field`: where the provider keeps a merchant's own keys (`metadata`; Paddle's `custom_data`).
    """
    metadata = container.get(field) if isinstance(container, dict) else None
    link = metadata.get(LINK_KEY) if isinstance(metadata, dict) else None
    return link if isinstance(link, str) and link else None


def provider_time(value: Any, what: str, *, unix: bool = True, text: bool = True) -> datetime | None:
    """`value` (unix seconds when `unix`, ISO 8601 text with a zone when `text`; null is None) as an
    aware UTC datetime within the documented range; PayloadError naming `what` otherwise."""
    if value is None:
        return None
    if unix and isinstance(value, int) and not isinstance(value, bool):
        if not EARLIEST_UNIX <= value <= LATEST_UNIX:
            raise PayloadError(f"{what} is outside the times accepted ({_RANGE})")
        return datetime.fromtimestamp(value, UTC)
    if text and isinstance(value, str):
        return _from_text(value, what)
    raise PayloadError(f"{what} is not {_forms(unix=unix, text=text)}")


def _from_text(value: str, what: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value) if len(value) <= MAX_TIME_TEXT else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise PayloadError(f"{what} is not an ISO 8601 time with a zone")
    try:
        in_utc = parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        # Its offset carries it past the first or last day of the calendar.
        raise PayloadError(f"{what} is outside the times accepted ({_RANGE})") from None
    if not EARLIEST <= in_utc <= LATEST:
        raise PayloadError(f"{what} is outside the times accepted ({_RANGE})")
    return in_utc


def _forms(*, unix: bool, text: bool) -> str:
    if unix and text:
        return "a unix timestamp or an ISO 8601 time with a zone"
    return "a unix timestamp" if unix else "an ISO 8601 time with a zone"
