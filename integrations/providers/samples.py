"""Made-up provider events, for `subgate events send` and the tests: what every provider's share.

Each provider's `samples` module builds events in its own shape and signs them as the provider
does; `SAMPLES` there tells the command what it needs (the event types it can make, the ids it
makes up). Standard library only: the command line reads the choices while it parses.
"""

from __future__ import annotations

import calendar
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

INTERVALS: Final = ("day", "week", "month", "year")


@dataclass(frozen=True, slots=True, kw_only=True)
class EventSpec:
    """What the caller chose; everything else is made up per call."""

    type: str
    now: datetime
    subscription_id: str
    customer_id: str
    status: str = "active"
    price_id: str = "price_subgate_demo"
    amount: int = 2000
    currency: str = "usd"
    interval: str = "month"
    cancel_at_period_end: bool = False
    event_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedSample:
    """An event as the provider would post it: its id, the exact bytes, and the signed headers."""

    event_id: str
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class Samples:
    """What `subgate events send <provider>` needs of a provider."""

    event_types: tuple[str, ...]
    statuses: tuple[str, ...]
    # Event types about a payment, which name a subscription that must exist already.
    payments: frozenset[str]
    new_subscription_id: Callable[[], str]
    # The customer made up for a subscription, so that later events about it agree.
    customer_of: Callable[[str], str]
    signed: Callable[[EventSpec, str], SignedSample]


def check_choice(value: str, choices: Sequence[str], what: str) -> None:
    """ValueError naming `what` and every choice, unless `value` is one of `choices`."""
    if value not in choices:
        raise ValueError(f"unsupported {what} {value!r}; one of {', '.join(choices)}")


def encode(document: Any) -> bytes:
    """Compact JSON in UTF-8, as providers send it."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def period_end(start: datetime, interval: str) -> datetime:
    """One billing interval after `start`; months and years keep the day (clamped to month end)."""
    if interval == "day":
        return start + timedelta(days=1)
    if interval == "week":
        return start + timedelta(weeks=1)
    months = {"month": 1, "year": 12}[interval]
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day)
