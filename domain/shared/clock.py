"""Time comes from an injected clock (NowFn) so every rule about time is testable."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]
"""Returns the current instant, always timezone-aware UTC."""


def system_clock() -> datetime:
    return datetime.now(UTC)


def public_time(value: datetime | None) -> str | None:
    """How times leave the service (REST, notifications, CLI): ISO 8601 in UTC with a `Z`."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
