"""Ordering Stripe subscription snapshots that share one second.

Stripe dates events in whole seconds, and one action often produces several snapshots
of a subscription within the same second (`created` as `incomplete`, then `updated` to
`active` once the first invoice is paid). The newest snapshot must win whatever order
they arrive in, so each snapshot gets a tie-break from its own content, a number that
grows along a subscription's life within one second:

1. the event's phase: `created` first, every other event, `deleted` last;
2. how far along the lifecycle the snapshot's status is: `incomplete`, `trialing`,
   `active`, `past_due`, `unpaid`, active again after `past_due`/`unpaid` (a recovery),
   `paused`, active again after `paused` (a resume), and last `canceled` or
   `incomplete_expired`. "Again after" is read from `data.previous_attributes.status`
   (the status the change came from) or implied by the event type (`resumed`). A
   subscription whose payment collection is paused counts as `paused`, and one whose
   `previous_attributes.pause_collection` was set comes from `paused`.

A paid renewal invoice (billing reason `subscription_cycle`) in the same second comes after
every snapshot but `deleted` (`RENEWAL_TIE_BREAK`): Stripe moves the subscription to its new
period before it collects the renewal, and a deletion in that second ends it after.

The event id is never used: Stripe's ids carry no order. Two snapshots that still tie
are settled by the domain on their content, so the outcome never depends on arrival order.
"""

from __future__ import annotations

from typing import Any, Final

CREATED: Final = "customer.subscription.created"
DELETED: Final = "customer.subscription.deleted"
RESUMED: Final = "customer.subscription.resumed"

_PROGRESS: Final = {
    "incomplete": 0,
    "trialing": 1,
    "active": 2,
    "past_due": 3,
    "unpaid": 4,
    # 5: active again after past_due or unpaid
    "paused": 6,
    # 7: active or trialing again after paused
    "canceled": 8,
    "incomplete_expired": 8,
}
# After every `created` and `updated` snapshot of a second, before its `deleted` (phase 2, 200+).
RENEWAL_TIE_BREAK: Final = 199
_RECOVERED: Final = 5
_RESUMED: Final = 7
_DELINQUENT: Final = frozenset({"past_due", "unpaid"})
_LIVE_AGAIN: Final = frozenset({"active", "trialing"})


def _phase(event_type: str) -> int:
    if event_type == CREATED:
        return 0
    if event_type == DELETED:
        return 2
    return 1


def _progress(event_type: str, status: str, previous: Any) -> int:
    before = previous.get("status") if isinstance(previous, dict) else None
    if event_type == RESUMED or (
        before is None and isinstance(previous, dict) and isinstance(previous.get("pause_collection"), dict)
    ):
        before = "paused"
    if status == "active" and before in _DELINQUENT:
        return _RECOVERED
    if status in _LIVE_AGAIN and before == "paused":
        return _RESUMED
    return _PROGRESS.get(status, 0)


def tie_break(event_type: str, status: str, previous_attributes: Any) -> int:
    """A number from 0 to 299: higher is later within the same second (see the module docstring)."""
    return _phase(event_type) * 100 + _progress(event_type, status, previous_attributes) * 10
