"""What applying an input did, and the error that asks for the input to be tried again later."""

from __future__ import annotations

from dataclasses import dataclass

from domain.shared.errors import NotFound
from domain.shared.events import EventType


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandOutcome:
    """What an input did: applied (with the events it caused) or recorded without effect."""

    applied: bool
    subscription_id: str | None = None
    events: tuple[EventType, ...] = ()
    reason: str | None = None


class SubscriptionNotYetKnown(NotFound):
    """An input refers to a provider subscription we have not seen yet; retry later."""
