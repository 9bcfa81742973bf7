"""What the chaos test's traffic is made of: provider events, and what each subscription must end as.

A `Story` is one subscription's events together with the content of each of its provider's
snapshots in the provider's own order, written down as the events are built: what the
service must end with comes from the provider's timeline, never from the service's rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

# Provider statuses that the service names otherwise.
SERVICE_STATUS: Final = {"incomplete": "pending", "incomplete_expired": "expired"}


@dataclass(frozen=True, slots=True, kw_only=True)
class View:
    """What a snapshot says about a subscription: the fields its notifications and REST show."""

    status: str
    current_period_start: datetime | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    canceled_at: datetime | None
    trial_end: datetime | None

    @classmethod
    def of(cls, sub: Mapping[str, Any]) -> View:
        """From the service's JSON (`GET /v1/subscriptions`, `data.subscription`)."""
        return cls(
            status=sub["status"],
            current_period_start=_parsed(sub["current_period_start"]),
            current_period_end=_parsed(sub["current_period_end"]),
            cancel_at_period_end=sub["cancel_at_period_end"],
            canceled_at=_parsed(sub["canceled_at"]),
            trial_end=_parsed(sub["trial_end"]),
        )

    def __str__(self) -> str:
        times = (self.current_period_start, self.current_period_end, self.canceled_at, self.trial_end)
        start, end, canceled, trial = (t.isoformat(timespec="seconds") if t else "-" for t in times)
        cancel = " cancel_at_period_end" if self.cancel_at_period_end else ""
        return f"{self.status} {start}..{end}{cancel} canceled_at={canceled} trial_end={trial}"


def _parsed(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def from_unix(unix: int | None) -> datetime | None:
    return None if unix is None else datetime.fromtimestamp(unix, UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderEvent:
    provider: str  # "stripe" or "polar": which connection it is posted to
    event_id: str  # Stripe's `id`, Polar's `webhook-id`
    event_type: str
    body: bytes
    subscription: str  # the provider's subscription id


@dataclass(frozen=True, slots=True)
class Payment:
    """One payment notification the merchant must receive exactly once."""

    type: str
    invoice: str
    attempt: int | None = None


@dataclass(slots=True, kw_only=True)
class Story:
    """One subscription's events, and what they must leave behind."""

    provider: str
    subscription: str
    lifecycle: str
    views: list[View] = field(default_factory=list)  # every snapshot's content, in provider order
    payments: list[Payment] = field(default_factory=list)
    # The periods of its paid renewals: each may move the period ahead of the snapshots, in
    # whatever order the provider's events arrive (`domain.subscriptions.lifecycle`).
    renewals: list[tuple[datetime, datetime]] = field(default_factory=list)
    events: list[ProviderEvent] = field(default_factory=list)
    trial_reminder: bool = False  # may tell `subscription.trial_will_end` (once, and only while trialing)

    @property
    def final(self) -> View:
        return self.views[-1]
