"""Notification services: External for the REST API, Internal for workers and the sweeper."""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final
from urllib.parse import urlsplit

from domain.notifications.erasure import each_email_page, erase_email
from domain.notifications.model import (
    DeadLetter,
    DeadLetterKind,
    Delivery,
    Endpoint,
    SigningSecret,
    new_signing_secret,
)
from domain.notifications.ports import (
    DeliveryFilter,
    NotificationsUnit,
)
from domain.notifications.probes import probe_delivery, probe_message
from domain.notifications.replay import ReplaySummary, make_due, replay_dead_letter, replay_many
from domain.shared.clock import Clock
from domain.shared.errors import Conflict, NotFound, ValidationFailed, existing, owned
from domain.shared.events import EventType
from domain.shared.ids import new_id
from domain.shared.pagination import Page, PageRequest
from domain.shared.txn import TxnFn, with_retries
from domain.shared.work import WorkKind, WorkSignal

MAX_URL_LENGTH = 2048
# After a rotation the previous secret keeps signing alongside the new one for this long.
ROTATION_OVERLAP = timedelta(hours=24)


class Keep(enum.Enum):
    """A PATCH field that was not given: the stored value stays."""

    KEEP = "keep"


KEEP: Final = Keep.KEEP


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointChanges:
    url: str | Keep = KEEP
    event_types: Sequence[str] | Keep = KEEP
    enabled: bool | Keep = KEEP
    description: str | Keep | None = KEEP


@dataclass(frozen=True, slots=True, kw_only=True)
class NewEndpoint:
    url: str
    event_types: Sequence[str] = ()
    description: str | None = None


def validated_url(url: str) -> str:
    """An absolute http(s) URL without credentials, or ValidationFailed."""
    if not isinstance(url, str) or len(url) > MAX_URL_LENGTH:
        raise ValidationFailed("url", f"a string of at most {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError:  # unbalanced brackets around the host
        raise ValidationFailed("url", "an absolute http(s) URL is required") from None
    if parts.scheme not in ("http", "https") or not hostname:
        raise ValidationFailed("url", "an absolute http(s) URL is required")
    if parts.username or parts.password:
        raise ValidationFailed("url", "credentials in the URL are not allowed")
    return url


def _validated_types(event_types: Sequence[str]) -> tuple[str, ...]:
    known = {t.value for t in EventType}
    unknown = [t for t in event_types if t not in known]
    if unknown:
        raise ValidationFailed("event_types", f"unknown types {unknown}; known: {sorted(known)}")
    return tuple(dict.fromkeys(event_types))


class NotificationsExternal:
    """What a merchant may do with its endpoints, deliveries and dead letters.

    `signal` wakes the workers after a retry or replay (they find it at their next poll anyway).
    """

    def __init__(self, txn: TxnFn[NotificationsUnit], clock: Clock, signal: WorkSignal | None = None) -> None:
        self._txn = txn
        self._clock = clock
        self._signal = signal

    def _wake(self) -> None:
        if self._signal is not None:
            self._signal.notify(WorkKind.DELIVERIES)

    async def create_endpoint(self, merchant_id: str, new: NewEndpoint) -> Endpoint:
        endpoint = Endpoint(
            id=new_id("ep"),
            merchant_id=merchant_id,
            url=validated_url(new.url),
            event_types=_validated_types(new.event_types),
            description=new.description,
            enabled=True,
            secrets=(SigningSecret(value=new_signing_secret()),),
            created_at=self._clock(),
        )

        async def work(unit: NotificationsUnit) -> None:
            await unit.endpoints.add(endpoint)

        await self._txn(work)
        return endpoint

    async def get_endpoint(self, merchant_id: str, endpoint_id: str) -> Endpoint:
        async def work(unit: NotificationsUnit) -> Endpoint | None:
            return await unit.endpoints.get(merchant_id, endpoint_id)

        return existing(await self._txn(work), "endpoint", endpoint_id)

    async def list_endpoints(self, merchant_id: str, page: PageRequest) -> Page[Endpoint]:
        async def work(unit: NotificationsUnit) -> Page[Endpoint]:
            return await unit.endpoints.list(merchant_id, page)

        return await self._txn(work)

    async def list_deliveries(
        self, merchant_id: str, where: DeliveryFilter, page: PageRequest
    ) -> Page[Delivery]:
        async def work(unit: NotificationsUnit) -> Page[Delivery]:
            return await unit.deliveries.list(merchant_id, where, page)

        return await self._txn(work)

    async def get_delivery(self, merchant_id: str, delivery_id: str) -> Delivery:
        async def work(unit: NotificationsUnit) -> Delivery | None:
            return await unit.deliveries.get(delivery_id)

        return owned(await self._txn(work), merchant_id, "delivery", delivery_id)

    async def list_dead_letters(
        self, merchant_id: str, kind: DeadLetterKind | None, page: PageRequest
    ) -> Page[DeadLetter]:
        async def work(unit: NotificationsUnit) -> Page[DeadLetter]:
            return await unit.dead_letters.list(merchant_id, kind, page)

        return await self._txn(work)

    async def update_endpoint(self, merchant_id: str, endpoint_id: str, changes: EndpointChanges) -> Endpoint:
        """Change what is given; enabling an endpoint starts its failure count afresh."""
        url = changes.url if isinstance(changes.url, Keep) else validated_url(changes.url)
        types = (
            changes.event_types
            if isinstance(changes.event_types, Keep)
            else _validated_types(changes.event_types)
        )

        def change(endpoint: Endpoint) -> Endpoint:
            updated = endpoint
            if not isinstance(url, Keep):
                updated = replace(updated, url=url)
            if not isinstance(types, Keep):
                updated = replace(updated, event_types=types)
            if not isinstance(changes.description, Keep):
                updated = replace(updated, description=changes.description)
            if not isinstance(changes.enabled, Keep) and changes.enabled != endpoint.enabled:
                updated = replace(updated, enabled=changes.enabled, failing_since=None)
            return updated

        return await self._change_endpoint(merchant_id, endpoint_id, change)

    async def rotate_secret(self, merchant_id: str, endpoint_id: str) -> tuple[Endpoint, str]:
        """A new signing secret; the live ones keep signing alongside it for `ROTATION_OVERLAP`."""
        secret = new_signing_secret()
        now = self._clock()

        def rotate(endpoint: Endpoint) -> Endpoint:
            overlap_end = now + ROTATION_OVERLAP
            kept = tuple(
                replace(s, expires_at=min(s.expires_at or overlap_end, overlap_end))
                for s in endpoint.secrets
                if s.expires_at is None or s.expires_at > now
            )
            return replace(endpoint, secrets=(SigningSecret(value=secret), *kept))

        return await self._change_endpoint(merchant_id, endpoint_id, rotate), secret

    async def delete_endpoint(self, merchant_id: str, endpoint_id: str) -> int:
        """Delete the endpoint; its pending deliveries end as canceled. Returns how many."""
        now = self._clock()

        async def work(unit: NotificationsUnit) -> int:
            endpoint = await unit.endpoints.get(merchant_id, endpoint_id)
            if endpoint is None:
                raise NotFound("endpoint", endpoint_id)
            await unit.endpoints.update(replace(endpoint, enabled=False, deleted_at=now))
            return await unit.deliveries.cancel_for_endpoint(endpoint_id, now)

        return await with_retries(self._txn, work)

    async def _change_endpoint(
        self, merchant_id: str, endpoint_id: str, change: Callable[[Endpoint], Endpoint]
    ) -> Endpoint:
        async def work(unit: NotificationsUnit) -> Endpoint:
            endpoint = await unit.endpoints.get(merchant_id, endpoint_id)
            if endpoint is None:
                raise NotFound("endpoint", endpoint_id)
            return await unit.endpoints.update(change(endpoint))

        # A worker may record a failure on the endpoint meanwhile: apply the change to the new state.
        return await with_retries(self._txn, work)

    async def retry_delivery(self, merchant_id: str, delivery_id: str) -> Delivery:
        """Make one delivery due now (any status but canceled), with a fresh retry schedule."""

        async def work(unit: NotificationsUnit) -> Delivery:
            delivery = await unit.deliveries.get(delivery_id)
            if delivery is None or delivery.merchant_id != merchant_id:
                raise NotFound("delivery", delivery_id)
            return await make_due(unit, delivery, self._clock())

        due = await self._txn(work)
        self._wake()
        return due

    async def send_test_event(self, merchant_id: str, endpoint_id: str) -> Delivery:
        """An `endpoint.test` message to this one endpoint, sent, signed, recorded and retried
        like any other (Conflict for a disabled endpoint)."""
        now = self._clock()

        async def work(unit: NotificationsUnit) -> Delivery:
            endpoint = await unit.endpoints.get(merchant_id, endpoint_id)
            if endpoint is None:
                raise NotFound("endpoint", endpoint_id)
            if not endpoint.enabled:
                raise Conflict(f"endpoint {endpoint_id!r} is disabled; enable it before testing it")
            message = probe_message(endpoint, now)
            delivery = probe_delivery(message, endpoint, now)
            # Fanned out here already, to this endpoint only: the fan-out never sees it.
            await unit.outbox.append(message)
            await unit.deliveries.add(delivery)
            return delivery

        made = await self._txn(work)
        self._wake()
        return made

    async def replay_dead_letter(self, merchant_id: str, dead_letter_id: str) -> Delivery:
        async def work(unit: NotificationsUnit) -> Delivery:
            return await replay_dead_letter(unit, merchant_id, dead_letter_id, self._clock())

        due = await self._txn(work)
        self._wake()
        return due

    async def customer_addresses(self, merchant_id: str, customer_id: str) -> tuple[str, ...]:
        """The addresses the customer's emails went to (what an erasure looks for elsewhere)."""
        found: dict[str, None] = {}

        async def note(_: NotificationsUnit, emails: Sequence[Delivery]) -> None:
            found.update(dict.fromkeys(d.recipient for d in emails if d.recipient))

        await each_email_page(self._txn, merchant_id, customer_id, note)
        return tuple(found)

    async def erase_customer_emails(self, merchant_id: str, customer_id: str) -> int:
        """Cancel the customer's emails still waiting, and remove their recipients and bodies
        (see `domain.notifications.erasure`); idempotent. Returns how many emails it changed."""
        erased: set[str] = set()  # a set: a page retried after a conflict counts once
        now = self._clock()

        async def erase(unit: NotificationsUnit, emails: Sequence[Delivery]) -> None:
            for delivery in emails:
                if delivery.erased_at is None or delivery.recipient is not None:
                    await erase_email(unit, delivery, now)
                    erased.add(delivery.id)

        await each_email_page(self._txn, merchant_id, customer_id, erase)
        return len(erased)

    async def replay_dead_letters(
        self,
        merchant_id: str,
        kind: DeadLetterKind | None,
        since: datetime | None,
        endpoint_id: str | None = None,
    ) -> ReplaySummary:
        """Every open dead letter (made since `since`, of one endpoint when given) due again now."""
        if endpoint_id is not None:
            await self.get_endpoint(merchant_id, endpoint_id)  # another merchant's: NotFound
        summary = await replay_many(
            self._txn, self._clock, merchant_id=merchant_id, kind=kind, since=since, endpoint_id=endpoint_id
        )
        if summary.replayed:
            self._wake()
        return summary
