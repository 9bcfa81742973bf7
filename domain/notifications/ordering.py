"""Order per lane: a subject's notifications to one recipient go out in the order they were made.

A lane is one subject (a subscription, say) to one recipient (an endpoint, or an email
address). A delivery is held back while an earlier delivery of its lane is still pending
or being retried. The hold is bounded: once a delivery has waited `wait` since it was
made, it goes anyway and records that order was given up. When a delivery settles
(succeeds, dies or is canceled), the next one waiting in its lane is made due at once.

Each check is one indexed look-up of the lane's earliest open delivery, so it costs the
same whatever the backlog.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from domain.notifications.model import Delivery, DeliveryStatus
from domain.notifications.ports import NotificationsUnit
from domain.shared.errors import ConcurrencyConflict

DEFAULT_ORDER_WAIT = timedelta(minutes=10)
# A held delivery is looked at again no sooner than this, so that a blocker due right now
# (but not yet claimed) cannot make its followers spin.
MIN_HOLD = timedelta(seconds=0.5)


@dataclass(frozen=True, slots=True, kw_only=True)
class Hold:
    """The verdict for one claimed delivery."""

    until: datetime | None = None  # held: look again then
    blocker_id: str | None = None  # the earlier delivery it waits (or waited) for
    gave_up: bool = False  # it waited the whole bound: it goes anyway


GO = Hold()


async def lane_hold(unit: NotificationsUnit, delivery: Delivery, now: datetime, wait: timedelta) -> Hold:
    if delivery.lane is None or delivery.order_given_up:
        return GO
    first = await unit.deliveries.first_open_in_lane(delivery.lane)
    if first is None or first.id >= delivery.id:
        return GO
    give_up_at = delivery.created_at + wait
    if now >= give_up_at:
        return Hold(blocker_id=first.id, gave_up=True)
    # The blocker's next try (or, while it is leased, the end of its lease); whichever way it
    # settles, `wake_next` makes this one due at once.
    wake = first.next_attempt_at or now
    return Hold(until=min(max(wake, now + MIN_HOLD), give_up_at), blocker_id=first.id)


async def wake_next(unit: NotificationsUnit, lane: str | None, now: datetime) -> bool:
    """After a delivery of `lane` settled: make the next one waiting there due now."""
    if lane is None:
        return False
    following = await unit.deliveries.first_open_in_lane(lane)
    if (
        following is None
        or following.lease_owner is not None
        or following.status != DeliveryStatus.PENDING
        or (following.next_attempt_at is not None and following.next_attempt_at <= now)
    ):
        return False
    try:
        await unit.deliveries.update(replace(following, next_attempt_at=now))
    except ConcurrencyConflict:
        return False  # someone else moved it meanwhile: it is looked at anyway
    return True
