"""One error hierarchy; the gateway maps each class to an HTTP status in one place."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, TypeVar

from domain.shared.clock import utc_text


class DomainError(Exception):
    """Base of every error the domain raises on purpose."""

    kind = "domain_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    kind = "not_found"

    def __init__(self, entity: str, entity_id: str) -> None:
        super().__init__(f"{entity} {entity_id!r} does not exist")
        self.entity = entity
        self.entity_id = entity_id


class Owned(Protocol):
    @property
    def merchant_id(self) -> str: ...


T = TypeVar("T")
OwnedT = TypeVar("OwnedT", bound=Owned)


def existing(value: T | None, entity: str, entity_id: str) -> T:
    """`value`, or NotFound when there is none."""
    if value is None:
        raise NotFound(entity, entity_id)
    return value


def owned(value: OwnedT | None, merchant_id: str, entity: str, entity_id: str) -> OwnedT:
    """`value` if it is `merchant_id`'s; NotFound when there is none or it is another merchant's (to
    a merchant, another merchant's id is one that does not exist)."""
    if value is None or value.merchant_id != merchant_id:
        raise NotFound(entity, entity_id)
    return value


class InvalidTransition(DomainError):
    kind = "invalid_transition"

    def __init__(self, current: str, requested: str) -> None:
        super().__init__(f"cannot move from {current!r} to {requested!r}")
        self.current = current
        self.requested = requested


class ValidationFailed(DomainError):
    kind = "validation_error"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class Conflict(DomainError):
    kind = "conflict"


class ConcurrencyConflict(Conflict):
    """A compare-and-set on `version` lost a race; the caller may retry from scratch."""

    kind = "concurrency_conflict"

    def __init__(self, entity: str, entity_id: str) -> None:
        super().__init__(f"{entity} {entity_id!r} was changed concurrently")
        self.entity = entity
        self.entity_id = entity_id


class PayloadExpired(Conflict):
    """What a replay or reprocess would send or run again was removed by retention (409)."""

    kind = "payload_expired"

    def __init__(self, entity: str, entity_id: str, removed_at: datetime) -> None:
        when = utc_text(removed_at)
        super().__init__(
            f"the payload of {entity} {entity_id!r} was removed on {when}, once older than the "
            "payload retention (SUBGATE_PAYLOAD_RETENTION_DAYS): it cannot be sent or run again"
        )
        self.entity = entity
        self.entity_id = entity_id
        self.removed_at = removed_at


class CustomerErased(Conflict):
    """A change that would bring back personal data the merchant had erased (409)."""

    kind = "customer_erased"


class Unauthenticated(DomainError):
    kind = "unauthenticated"
