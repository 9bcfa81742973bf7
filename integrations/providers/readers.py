"""Reading values out of provider payloads, shared by every provider adapter.

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

from datetime import UTC, datetime
from typing import Any, Final

from integrations.providers.interface import PayloadError

EARLIEST: Final = datetime(1970, 1, 1, tzinfo=UTC)
LATEST: Final = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
EARLIEST_UNIX: Final = 0
LATEST_UNIX: Final = 253_402_300_799  # LATEST in unix seconds
# ISO 8601 text longer than this is no timestamp (the longest sensible one has about 32 characters).
MAX_TIME_TEXT: Final = 40
_RANGE: Final = "from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z"


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
