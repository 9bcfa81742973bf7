"""Conversions between domain values and stored documents.

A document is its domain dataclass, field for field, converted by msgspec both ways: a field
added to a dataclass needs no code here, and documents stored before it existed read with the
field's default. Stored forms: times are fixed-width ISO 8601 UTC strings
(`2025-01-15T12:00:00.000000Z`), so that string order is time order in every backend's
indexes and range filters; bytes are base64; enums are their values; tuples are arrays. Every
document carries the store's `version` counter, 0 for values that keep none of their own.

Hand-written, because they are not field for field: an inbound event's `due_at` is stored as
its arrival when unset (the claim query orders and filters on it, and a null would never come
due), and a subscription stored before `provider_managed` existed reads it from its `provider`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final, Generic, TypeVar

import msgspec
from msgspec import inspect

from domain.billing.model import InboundEvent
from domain.merchants.model import Connection, Merchant
from domain.notifications.model import DeadLetter, Delivery, Endpoint
from domain.shared.outbox import OutboxMessage
from domain.subscriptions.model import Customer, Plan, Subscription
from integrations.storage.documents import Document

T = TypeVar("T")

_FORMAT: Final = "%Y-%m-%dT%H:%M:%S.%fZ"
_FOUR_DIGIT_YEARS: Final = 1000
# Left as they are by `to_builtins`: msgspec's own form of a time drops zero microseconds,
# which would break the fixed width.
_AS_IS: Final = (datetime,)

_Fix = Callable[[Any], Any]


def iso(value: datetime) -> str:
    """Fixed width, so string order is time order in every backend."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    if value.year < _FOUR_DIGIT_YEARS:
        return value.strftime(_FORMAT)  # the platform's own (unpadded) year, as ever
    # The same text as `strftime(_FORMAT)`, written out by hand: a few times faster, and every
    # stored document has several of these.
    return "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" % (  # noqa: UP031 - the fastest way here
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
    )


def iso_or_none(value: datetime | None) -> str | None:
    return None if value is None else iso(value)


def parse_time(value: str) -> datetime:
    # fromisoformat reads our fixed format (with its `Z`) at a fraction of strptime's cost.
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"stored time without a zone: {value!r}")
    return parsed


def time_or_none(value: Any) -> datetime | None:
    return None if value is None else parse_time(value)


class DocumentCodec(Generic[T]):
    """One dataclass <-> its document. What `to_builtins` leaves unfinished (times, tuples) is
    worked out once per type from its fields, so encoding touches only the fields that need it."""

    def __init__(self, kind: type[T]) -> None:
        info = inspect.type_info(kind)
        if not isinstance(info, inspect.DataclassType):
            raise TypeError(f"{kind!r} is not a dataclass")
        self._kind = kind
        self._fixes = tuple((f.name, fix) for f in info.fields if (fix := _fixer(f.type)) is not None)
        self._versioned = any(f.name == "version" for f in info.fields)

    def to_doc(self, value: T) -> Document:
        doc: Document = msgspec.to_builtins(value, builtin_types=_AS_IS)
        for name, fix in self._fixes:
            doc[name] = fix(doc[name])
        if not self._versioned:
            doc["version"] = 0
        return doc

    def from_doc(self, doc: Document) -> T:
        # Fields the document lacks take their dataclass defaults; fields it has beyond the
        # dataclass (`version` of an unversioned value, a connection's tombstone) are ignored.
        return msgspec.convert(doc, self._kind)


def _fixer(info: inspect.Type) -> _Fix | None:
    """How to finish a value of this type after `to_builtins`, or None when it is already done."""
    if isinstance(info, inspect.DateTimeType):
        return iso
    if isinstance(info, inspect.UnionType):
        given = [t for t in info.types if not isinstance(t, inspect.NoneType)]
        if len(given) == 1:
            fix = _fixer(given[0])
            return None if fix is None else _or_none(fix)
        if any(_fixer(t) is not None for t in given):
            raise TypeError(f"no stored form is defined for a union of {given!r}")
        return None
    if isinstance(info, inspect.VarTupleType | inspect.ListType):
        item = _fixer(info.item_type)
        return list if item is None else _each(item)
    if isinstance(info, inspect.DataclassType):
        fields = tuple((f.name, fix) for f in info.fields if (fix := _fixer(f.type)) is not None)
        return _fields(fields) if fields else None
    if isinstance(info, inspect.DateType | inspect.TimeType | inspect.TimeDeltaType | inspect.SetType):
        raise TypeError(f"no stored form is defined for {info!r}")
    return None


def _or_none(fix: _Fix) -> _Fix:
    return lambda value: None if value is None else fix(value)


def _each(fix: _Fix) -> _Fix:
    return lambda values: [fix(value) for value in values]


def _fields(fixes: tuple[tuple[str, _Fix], ...]) -> _Fix:
    def fix_fields(doc: Document) -> Document:
        for name, fix in fixes:
            doc[name] = fix(doc[name])
        return doc

    return fix_fields


MERCHANTS: Final = DocumentCodec(Merchant)
CONNECTIONS: Final = DocumentCodec(Connection)
CUSTOMERS: Final = DocumentCodec(Customer)
PLANS: Final = DocumentCodec(Plan)
SUBSCRIPTIONS: Final = DocumentCodec(Subscription)
OUTBOX: Final = DocumentCodec(OutboxMessage)
INBOUND: Final = DocumentCodec(InboundEvent)
ENDPOINTS: Final = DocumentCodec(Endpoint)
DELIVERIES: Final = DocumentCodec(Delivery)
DEAD_LETTERS: Final = DocumentCodec(DeadLetter)

merchant_doc, merchant_from = MERCHANTS.to_doc, MERCHANTS.from_doc
connection_doc, connection_from = CONNECTIONS.to_doc, CONNECTIONS.from_doc
customer_doc, customer_from = CUSTOMERS.to_doc, CUSTOMERS.from_doc
plan_doc, plan_from = PLANS.to_doc, PLANS.from_doc
subscription_doc = SUBSCRIPTIONS.to_doc
outbox_doc, outbox_from = OUTBOX.to_doc, OUTBOX.from_doc
inbound_from = INBOUND.from_doc
endpoint_doc, endpoint_from = ENDPOINTS.to_doc, ENDPOINTS.from_doc
delivery_doc, delivery_from = DELIVERIES.to_doc, DELIVERIES.from_doc
dead_letter_doc, dead_letter_from = DEAD_LETTERS.to_doc, DEAD_LETTERS.from_doc


def subscription_from(doc: Document) -> Subscription:
    if "provider_managed" not in doc:
        # Stored before subgate ran subscriptions itself: every one came from a provider.
        doc = {**doc, "provider_managed": doc.get("provider") is not None}
    return SUBSCRIPTIONS.from_doc(doc)


def inbound_doc(event: InboundEvent) -> Document:
    doc = INBOUND.to_doc(event)
    if doc["due_at"] is None:
        doc["due_at"] = doc["received_at"]  # due on arrival
    return doc
