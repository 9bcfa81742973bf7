"""A customer's emails once its personal data is erased: never sent again, no address, no body.

An email delivery of the customer (found through `DeliveryRepository.emails_to`) that is still
waiting is canceled; every one loses its recipient, its lane (which names the address), the
excerpts of its attempts (the kept text of the email) and the address wherever an attempt's
error or a dead letter's reason quotes it. It keeps its id, type, status and the times, codes
and durations of its attempts, and refuses a retry or replay (409 `customer_erased`).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Final

from domain.notifications.model import RETRYABLE, Delivery, DeliveryStatus
from domain.notifications.ports import NotificationsUnit
from domain.shared.txn import TxnFn, with_retries

REDACTED: Final = "[redacted]"
PAGE: Final = 100


def scrubbed(text: str | None, addresses: Iterable[str]) -> str | None:
    """`text` with each address (in any letter case) replaced by `[redacted]`."""
    if text is None:
        return None
    for address in addresses:
        if address:
            text = re.sub(re.escape(address), REDACTED, text, flags=re.IGNORECASE)
    return text


def without_personal_data(delivery: Delivery, now: datetime) -> Delivery:
    """`delivery` as an erasure leaves it (the module docstring)."""
    addresses = [delivery.recipient] if delivery.recipient else []
    attempts = tuple(
        replace(attempt, response_excerpt=None, error=scrubbed(attempt.error, addresses))
        for attempt in delivery.attempts
    )
    waiting = delivery.status in RETRYABLE
    return replace(
        delivery,
        status=DeliveryStatus.CANCELED if waiting else delivery.status,
        next_attempt_at=None if waiting else delivery.next_attempt_at,
        lease_owner=None if waiting else delivery.lease_owner,
        recipient=None,
        lane=None,
        attempts=attempts,
        erased_at=delivery.erased_at or now,
        updated_at=now,
    )


async def erase_email(unit: NotificationsUnit, delivery: Delivery, now: datetime) -> None:
    if delivery.erased_at is not None and delivery.recipient is None:
        return  # erased before
    address = [delivery.recipient] if delivery.recipient else []
    await unit.deliveries.update(without_personal_data(delivery, now))
    for letter in await unit.dead_letters.for_delivery(delivery.id):
        reason = scrubbed(letter.reason, address) or letter.reason
        if reason != letter.reason:
            await unit.dead_letters.update(replace(letter, reason=reason))


async def each_email_page(
    txn: TxnFn[NotificationsUnit],
    merchant_id: str,
    customer_id: str,
    handle: Callable[[NotificationsUnit, Sequence[Delivery]], Awaitable[None]],
) -> None:
    """Run `handle` on each page of the customer's emails, a page per transaction (retried on a
    concurrent change, such as a worker recording an attempt)."""
    cursor: str | None = None
    while True:

        async def page(unit: NotificationsUnit, after: str | None = cursor) -> str | None:
            emails, following = await unit.deliveries.emails_to(merchant_id, customer_id, after, PAGE)
            await handle(unit, emails)
            return following

        cursor = await with_retries(txn, page)
        if cursor is None:
            return
