"""Endpoint health: an endpoint failing without a success for too long is disabled.

Each endpoint remembers since when it has been failing (`failing_since`, set by a failed
attempt, cleared by a success). A failed attempt more than `disable_after` past that
instant disables it, as a 410 Gone answer does at once. Disabling tells the merchant's
other endpoints with an `endpoint.disabled` notification, through the outbox.

Only the transitions write the endpoint, so deliveries recorded together rarely touch it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from domain.notifications.model import Endpoint
from domain.notifications.ports import NotificationsUnit
from domain.shared.clock import public_time
from domain.shared.errors import ConcurrencyConflict
from domain.shared.events import DomainEvent, EventType
from domain.shared.outbox import OutboxMessage

DISABLE_AFTER = timedelta(days=5)
# The journal's event for an outbox message whose fan-out raised (its `error` field: the exception).
DISPATCH_FAILED = "outbox_dispatch_failed"


class Journal(Protocol):
    """Where the notifications context reports what operators should see (a structlog logger fits)."""

    def info(self, event: str, **fields: Any) -> Any: ...

    def warning(self, event: str, **fields: Any) -> Any: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Disabled:
    endpoint: Endpoint
    reason: str


@dataclass(kw_only=True)
class EndpointBook:
    """The endpoints of one record batch, as last read or written in its transaction."""

    unit: NotificationsUnit
    endpoints: dict[str, Endpoint]
    disabled: list[Disabled] = field(default_factory=list)

    @classmethod
    async def load(cls, unit: NotificationsUnit, endpoint_ids: Sequence[str]) -> EndpointBook:
        found = await unit.endpoints.get_many(endpoint_ids)
        return cls(unit=unit, endpoints={e.id: e for e in found})

    async def succeeded(self, endpoint_id: str) -> None:
        endpoint = self.endpoints.get(endpoint_id)
        if endpoint is not None and endpoint.failing_since is not None:
            await self._store(replace(endpoint, failing_since=None))

    async def failed(self, endpoint_id: str, now: datetime, disable_after: timedelta) -> None:
        endpoint = self.endpoints.get(endpoint_id)
        if endpoint is None or not endpoint.usable:
            return
        if endpoint.failing_since is None:
            await self._store(replace(endpoint, failing_since=now))
        elif now - endpoint.failing_since >= disable_after:
            days = disable_after / timedelta(days=1)
            await self.disable(endpoint_id, now, f"failing without a success for {days:g} days")

    async def disable(self, endpoint_id: str, now: datetime, reason: str) -> None:
        endpoint = self.endpoints.get(endpoint_id)
        if endpoint is None or not endpoint.usable:
            return
        if await self._store(replace(endpoint, enabled=False, failing_since=None)):
            await self.unit.outbox.append(disabled_message(endpoint, now, reason))
            self.disabled.append(Disabled(endpoint=endpoint, reason=reason))

    async def _store(self, endpoint: Endpoint) -> bool:
        try:
            self.endpoints[endpoint.id] = await self.unit.endpoints.update(endpoint)
        except ConcurrencyConflict:
            # Changed meanwhile (by the merchant, or another worker's record): the next
            # attempt's record sees the new state and decides again.
            return False
        return True


def disabled_message(endpoint: Endpoint, now: datetime, reason: str) -> OutboxMessage:
    """`endpoint.disabled`: fanned out like any notification, so the disabled endpoint itself gets none."""
    data: Mapping[str, Any] = {
        "endpoint": {
            "id": endpoint.id,
            "url": endpoint.url,
            "description": endpoint.description,
            "enabled": False,
            "disabled_at": public_time(now),
            "reason": reason,
        }
    }
    event = DomainEvent(
        type=EventType.ENDPOINT_DISABLED,
        merchant_id=endpoint.merchant_id,
        subject_id=endpoint.id,
        occurred_at=now,
        data=data,
    )
    return OutboxMessage.from_event(event, {})
