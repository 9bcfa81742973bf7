"""Notification services: External for the REST API, Internal for workers and the sweeper."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

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
from domain.shared.clock import Clock
from domain.shared.errors import NotFound, ValidationFailed
from domain.shared.events import EventType
from domain.shared.ids import new_id
from domain.shared.pagination import Page, PageRequest
from domain.shared.txn import TxnFn

MAX_URL_LENGTH = 2048


@dataclass(frozen=True, slots=True, kw_only=True)
class NewEndpoint:
    url: str
    event_types: Sequence[str] = ()
    description: str | None = None


def validated_url(url: str) -> str:
    """An absolute http(s) URL without credentials, or ValidationFailed."""
    if not isinstance(url, str) or len(url) > MAX_URL_LENGTH:
        raise ValidationFailed("url", f"a string of at most {MAX_URL_LENGTH} characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
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
    def __init__(self, txn: TxnFn[NotificationsUnit], clock: Clock) -> None:
        self._txn = txn
        self._clock = clock

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

        found = await self._txn(work)
        if found is None:
            raise NotFound("endpoint", endpoint_id)
        return found

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

        found = await self._txn(work)
        if found is None or found.merchant_id != merchant_id:
            raise NotFound("delivery", delivery_id)
        return found

    async def list_dead_letters(
        self, merchant_id: str, kind: DeadLetterKind | None, page: PageRequest
    ) -> Page[DeadLetter]:
        async def work(unit: NotificationsUnit) -> Page[DeadLetter]:
            return await unit.dead_letters.list(merchant_id, kind, page)

        return await self._txn(work)
