"""Retry and replay: a delivery made due again, by a merchant (REST) or an operator (CLI).

A retried or replayed delivery keeps its message, so the receiver sees the same
`webhook-id`; it is signed at its next attempt with the endpoint's secrets of that moment.
It becomes `pending` and due at once, with the retry schedule started afresh, and its
dead letters (if it had died) are marked replayed, which takes them out of the lists.
Running workers pick it up at their next look at the store.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from domain.notifications.model import Channel, DeadLetter, DeadLetterKind, Delivery, DeliveryStatus
from domain.notifications.ports import NotificationsUnit
from domain.shared.clock import Clock
from domain.shared.errors import Conflict, CustomerErased, NotFound, PayloadExpired
from domain.shared.pagination import MAX_LIMIT, PageRequest
from domain.shared.txn import TxnFn


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplaySummary:
    replayed: tuple[str, ...]  # dead letter ids
    skipped: tuple[tuple[str, str], ...]  # (dead letter id, why)
    # The error type of each skipped one (`payload_expired`, `conflict`...), by dead letter id.
    refusals: Mapping[str, str] = field(default_factory=dict)


async def make_due(unit: NotificationsUnit, delivery: Delivery, now: datetime) -> Delivery:
    """Make `delivery` due now with a fresh schedule; Conflict when it cannot be sent."""
    if delivery.payload_expired_at is not None:
        raise PayloadExpired("delivery", delivery.id, delivery.payload_expired_at)
    if delivery.erased_at is not None:
        raise CustomerErased(f"delivery {delivery.id!r} is an email to a customer whose data was erased")
    if delivery.lease_owner is not None and delivery.status in (
        DeliveryStatus.PENDING,
        DeliveryStatus.FAILED,
    ):
        raise Conflict(f"delivery {delivery.id!r} is being attempted right now")
    if delivery.channel == Channel.WEBHOOK and delivery.endpoint_id is not None:
        endpoint = await unit.endpoints.get(delivery.merchant_id, delivery.endpoint_id)
        if endpoint is None:
            raise Conflict(f"endpoint {delivery.endpoint_id!r} was deleted")
        if not endpoint.enabled:
            raise Conflict(
                f"endpoint {endpoint.id!r} is disabled; enable it (PATCH enabled: true) before replaying"
            )
    elif delivery.status == DeliveryStatus.CANCELED:
        raise Conflict(f"delivery {delivery.id!r} was canceled")
    due = await unit.deliveries.update(
        replace(
            delivery,
            status=DeliveryStatus.PENDING,
            next_attempt_at=now,
            lease_owner=None,
            retry_from=len(delivery.attempts),
            updated_at=now,
        )
    )
    for dead in await unit.dead_letters.open_for_delivery(delivery.id):
        await unit.dead_letters.update(replace(dead, replayed_at=now))
    return due


async def replay_dead_letter(
    unit: NotificationsUnit, merchant_id: str | None, dead_letter_id: str, now: datetime
) -> Delivery:
    """Replay one dead letter (of `merchant_id`'s, unless None: an operator may replay any)."""
    dead = await unit.dead_letters.get(dead_letter_id)
    if dead is None or (merchant_id is not None and dead.merchant_id != merchant_id):
        raise NotFound("dead letter", dead_letter_id)
    if dead.replayed_at is not None:
        raise Conflict(f"dead letter {dead_letter_id!r} was already replayed")
    delivery = await unit.deliveries.get(dead.delivery_id)
    if delivery is None:
        raise Conflict(f"delivery {dead.delivery_id!r} of dead letter {dead_letter_id!r} no longer exists")
    return await make_due(unit, delivery, now)


async def replay_many(
    txn: TxnFn[NotificationsUnit],
    clock: Clock,
    *,
    merchant_id: str | None,
    kind: DeadLetterKind | None,
    since: datetime | None = None,
    endpoint_id: str | None = None,
) -> ReplaySummary:
    """Replay every dead letter not yet replayed (made at or after `since`, of one endpoint when
    given), a page per transaction."""
    replayed: list[str] = []
    skipped: list[tuple[str, str]] = []
    refusals: dict[str, str] = {}
    cursor: str | None = None
    while True:
        page_request = PageRequest(limit=MAX_LIMIT, starting_after=cursor)

        async def page_of(unit: NotificationsUnit, request: PageRequest = page_request) -> list[DeadLetter]:
            page = await unit.dead_letters.list(merchant_id, kind, request, endpoint_id=endpoint_id)
            wanted = [d for d in page.items if since is None or d.created_at >= since]
            for dead in wanted:
                try:
                    await replay_dead_letter(unit, None, dead.id, clock())
                except (Conflict, NotFound) as refused:
                    skipped.append((dead.id, refused.message))
                    refusals[dead.id] = refused.kind
                else:
                    replayed.append(dead.id)
            return list(page.items) if page.has_more else []

        # A failed transaction rolls back its page's replays: forget what it counted.
        counts = len(replayed), len(skipped)
        try:
            items = await txn(page_of)
        except BaseException:
            del replayed[counts[0] :], skipped[counts[1] :]
            raise
        if not items:
            return ReplaySummary(replayed=tuple(replayed), skipped=tuple(skipped), refusals=refusals)
        cursor = items[-1].id
