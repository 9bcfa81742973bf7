"""The subscription lifecycle as data: every allowed move is one row of TRANSITIONS."""

from __future__ import annotations

import enum
from collections.abc import Mapping

from domain.shared.errors import InvalidTransition


class SubscriptionStatus(enum.StrEnum):
    PENDING = "pending"  # created, awaiting the first payment
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    UNPAID = "unpaid"
    PAUSED = "paused"
    CANCELED = "canceled"
    EXPIRED = "expired"


S = SubscriptionStatus

TRANSITIONS: Mapping[SubscriptionStatus, frozenset[SubscriptionStatus]] = {
    S.PENDING: frozenset({S.TRIALING, S.ACTIVE, S.CANCELED, S.EXPIRED}),
    S.TRIALING: frozenset({S.ACTIVE, S.PAST_DUE, S.UNPAID, S.PAUSED, S.CANCELED}),
    S.ACTIVE: frozenset({S.PAST_DUE, S.UNPAID, S.PAUSED, S.CANCELED}),
    S.PAST_DUE: frozenset({S.ACTIVE, S.UNPAID, S.PAUSED, S.CANCELED}),
    S.UNPAID: frozenset({S.ACTIVE, S.PAST_DUE, S.CANCELED}),
    S.PAUSED: frozenset({S.ACTIVE, S.TRIALING, S.CANCELED}),
    S.CANCELED: frozenset(),
    S.EXPIRED: frozenset(),
}

TERMINAL: frozenset[SubscriptionStatus] = frozenset(s for s, targets in TRANSITIONS.items() if not targets)


def can_transition(current: SubscriptionStatus, target: SubscriptionStatus) -> bool:
    """Staying in the same status is not a transition and is always allowed."""
    return current == target or target in TRANSITIONS[current]


def check_transition(current: SubscriptionStatus, target: SubscriptionStatus) -> None:
    if not can_transition(current, target):
        raise InvalidTransition(current.value, target.value)
