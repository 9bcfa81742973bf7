"""Time comes from an injected clock (NowFn) so every rule about time is testable."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]
"""Returns the current instant, always timezone-aware UTC."""


def system_clock() -> datetime:
    return datetime.now(UTC)


def utc_text(value: datetime) -> str:
    """The one text form of a time, stored and shown: ISO 8601 in UTC to the microsecond, with a `Z`.

    Fixed width (every year in four digits, every fraction in six), so that the order of the
    texts is the order of the times, and two times within one second keep theirs.
    """
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    # The text of `strftime("%Y-%m-%dT%H:%M:%S.%fZ")` where the platform pads the year (glibc does
    # not), written out by hand: a few times faster, and every stored document has several.
    return "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" % (  # noqa: UP031 - the fastest way here
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
    )


def public_time(value: datetime | None) -> str | None:
    """How times leave the service (REST, notifications, CLI): `utc_text`, None for no time."""
    return None if value is None else utc_text(value)
