"""Conversions between domain values and stored documents.

A document is its domain dataclass, field for field, converted by msgspec both ways: a field
added to a dataclass needs no code here, and documents stored before it existed read with the
field's default. Stored forms: times are fixed-width ISO 8601 UTC strings
(`2025-01-15T12:00:00.000000Z`, years 1 to 9999 zero-padded to four digits), so that string
order is time order in every backend's indexes and range filters; bytes are base64; enums are
their values; tuples are arrays. Every document carries the store's `version` counter, 0 for
values that keep none of their own.

Reading back is strict (`from_doc`: the value exactly, or `UnreadableDocument`) or lenient
(`read`: what can be read, for listings). Either way, times that earlier releases wrote with a
short year (`999-12-31T...`, before years were padded) are repaired first; only when the plain
conversion fails, so the usual read pays nothing for it.

Hand-written, because they are not field for field: an inbound event's `due_at` is stored as
its arrival when unset (the claim query orders and filters on it, and a null would never come
due), and a subscription stored before `provider_managed` existed reads it from its `provider`.
"""

from __future__ import annotations

import copy
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Generic, TypeVar

import msgspec
from msgspec import inspect

from domain.inbound.model import InboundEvent
from domain.merchants.model import Connection, Merchant
from domain.notifications.model import DeadLetter, Delivery, Endpoint
from domain.shared.clock import utc_text
from domain.shared.outbox import OutboxMessage
from domain.subscriptions.model import Customer, Plan, Subscription
from integrations.stores.documents import Document, UnreadableDocument

T = TypeVar("T")

# A time as releases before padded years wrote a year below 1000: one to three digits.
_SHORT_YEAR: Final = re.compile(r"(\d{1,3})-\d\d-\d\dT")
# Left as they are by `to_builtins`: msgspec's own form of a time drops zero microseconds,
# which would break the fixed width.
_AS_IS: Final = (datetime,)

# A time is stored in the form it is shown in: fixed width, so string order is time order in
# every backend.
iso: Final = utc_text

_Fix = Callable[[Any], Any]


def padded_year(value: Any) -> Any:
    """`value` with a short year (`999-12-31T...`, as earlier releases stored years below 1000)
    padded to four digits; anything else as it is."""
    if isinstance(value, str) and (short := _SHORT_YEAR.match(value)) is not None:
        return short[1].zfill(4) + value[short.end(1) :]
    return value


def parse_time(value: str) -> datetime:
    # fromisoformat reads our fixed format (with its `Z`) at a fraction of strptime's cost.
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = datetime.fromisoformat(padded_year(value))
    if parsed.tzinfo is None:
        raise ValueError(f"stored time without a zone: {value!r}")
    return parsed


@dataclass(frozen=True, slots=True)
class Readout(Generic[T]):
    """What a lenient read made of a document: the value (None when none could be made) and the
    fields that could not be read, left at their defaults (or None)."""

    value: T | None
    unreadable: tuple[str, ...] = ()


class DocumentCodec(Generic[T]):
    """One dataclass <-> its document. What `to_builtins` leaves unfinished (times, tuples) is
    worked out once per type from its fields, so encoding touches only the fields that need it.

    `upgrade` brings a document stored before a change of shape to the current one, on reads.
    """

    def __init__(self, kind: type[T], *, upgrade: Callable[[Document], Document] | None = None) -> None:
        info = inspect.type_info(kind)
        if not isinstance(info, inspect.DataclassType):
            raise TypeError(f"{kind!r} is not a dataclass")
        self._kind = kind
        self._fields = info.fields
        self._fixes = _field_fixes(info, iso)
        self._repairs = _field_fixes(info, padded_year)
        self._hints = typing.get_type_hints(kind)
        self._versioned = any(f.name == "version" for f in info.fields)
        self._upgrade = upgrade

    def to_doc(self, value: T) -> Document:
        doc: Document = msgspec.to_builtins(value, builtin_types=_AS_IS)
        for name, fix in self._fixes:
            doc[name] = fix(doc[name])
        if not self._versioned:
            doc["version"] = 0
        return doc

    def from_doc(self, doc: Document) -> T:
        """The value, exactly; raises UnreadableDocument when the document does not make one."""
        # Fields the document lacks take their dataclass defaults; fields it has beyond the
        # dataclass (`version` of an unversioned value, a connection's tombstone) are ignored.
        if self._upgrade is not None:
            doc = self._upgrade(doc)
        try:
            return msgspec.convert(doc, self._kind)
        except msgspec.ValidationError:
            pass  # rare: repaired below, off the usual path
        try:
            return msgspec.convert(self._repaired(doc), self._kind)
        except msgspec.ValidationError as error:
            raise UnreadableDocument(self._kind.__name__, doc.get("id"), str(error)) from None

    def read(self, doc: Document) -> Readout[T]:
        """`from_doc`, else the value with each field it cannot read at its default, or None where
        the field allows it; no value when a field without either (the id, say) is unreadable."""
        try:
            return Readout(self.from_doc(doc))
        except UnreadableDocument:
            pass
        fixed = self._repaired(doc if self._upgrade is None else self._upgrade(doc))
        unreadable = []
        for field in self._fields:
            if field.name in fixed and self._readable(field.name, fixed[field.name]):
                continue
            unreadable.append(field.name)
            if not field.required:
                fixed.pop(field.name, None)
            elif _nullable(field.type):
                fixed[field.name] = None
            else:
                return Readout(None, tuple(unreadable))
        try:
            return Readout(msgspec.convert(fixed, self._kind), tuple(unreadable))
        except msgspec.ValidationError:
            return Readout(None, tuple(unreadable))

    def _readable(self, name: str, value: Any) -> bool:
        try:
            msgspec.convert(value, self._hints[name])
        except msgspec.ValidationError:
            return False
        return True

    def repaired(self, doc: Document) -> Document:
        """A copy of `doc` with its times in today's form (see `padded_year`); other fields as they are."""
        return self._repaired(doc)

    def _repaired(self, doc: Document) -> Document:
        """A copy of `doc` with its times in today's form (see `padded_year`)."""
        repaired = copy.deepcopy(doc)
        for name, repair in self._repairs:
            if name in repaired:
                repaired[name] = repair(repaired[name])
        return repaired


def _nullable(info: inspect.Type) -> bool:
    return isinstance(info, inspect.UnionType) and any(isinstance(t, inspect.NoneType) for t in info.types)


def _field_fixes(info: inspect.DataclassType, leaf: _Fix) -> tuple[tuple[str, _Fix], ...]:
    return tuple((f.name, fix) for f in info.fields if (fix := _fixer(f.type, leaf)) is not None)


def _fixer(info: inspect.Type, leaf: _Fix) -> _Fix | None:
    """How to finish a value of this type, `leaf` applied to each time in it; None when it has
    none. Tolerant of shapes other than the type's (a repair walks documents as found)."""
    if isinstance(info, inspect.DateTimeType):
        return leaf
    if isinstance(info, inspect.UnionType):
        given = [t for t in info.types if not isinstance(t, inspect.NoneType)]
        if len(given) == 1:
            fix = _fixer(given[0], leaf)
            return None if fix is None else _or_none(fix)
        if any(_fixer(t, leaf) is not None for t in given):
            raise TypeError(f"no stored form is defined for a union of {given!r}")
        return None
    if isinstance(info, inspect.VarTupleType | inspect.ListType):
        item = _fixer(info.item_type, leaf)
        return list if item is None else _each(item)
    if isinstance(info, inspect.DataclassType):
        fields = _field_fixes(info, leaf)
        return _fields(fields) if fields else None
    if isinstance(info, inspect.DateType | inspect.TimeType | inspect.TimeDeltaType | inspect.SetType):
        raise TypeError(f"no stored form is defined for {info!r}")
    return None


def _or_none(fix: _Fix) -> _Fix:
    return lambda value: None if value is None else fix(value)


def _each(fix: _Fix) -> _Fix:
    return lambda values: [fix(value) for value in values] if isinstance(values, list | tuple) else values


def _fields(fixes: tuple[tuple[str, _Fix], ...]) -> _Fix:
    def fix_fields(doc: Document) -> Document:
        if isinstance(doc, dict):
            for name, fix in fixes:
                if name in doc:
                    doc[name] = fix(doc[name])
        return doc

    return fix_fields


def _provider_managed(doc: Document) -> Document:
    if "provider_managed" not in doc:
        # Stored before subgate ran subscriptions itself: every one came from a provider.
        return {**doc, "provider_managed": doc.get("provider") is not None}
    return doc


MERCHANTS: Final = DocumentCodec(Merchant)
CONNECTIONS: Final = DocumentCodec(Connection)
CUSTOMERS: Final = DocumentCodec(Customer)
PLANS: Final = DocumentCodec(Plan)
SUBSCRIPTIONS: Final = DocumentCodec(Subscription, upgrade=_provider_managed)
OUTBOX: Final = DocumentCodec(OutboxMessage)
INBOUND: Final = DocumentCodec(InboundEvent)
ENDPOINTS: Final = DocumentCodec(Endpoint)
DELIVERIES: Final = DocumentCodec(Delivery)
DEAD_LETTERS: Final = DocumentCodec(DeadLetter)

merchant_doc, merchant_from = MERCHANTS.to_doc, MERCHANTS.from_doc
connection_doc, connection_from = CONNECTIONS.to_doc, CONNECTIONS.from_doc
customer_doc, customer_from = CUSTOMERS.to_doc, CUSTOMERS.from_doc
plan_doc, plan_from = PLANS.to_doc, PLANS.from_doc
subscription_doc, subscription_from = SUBSCRIPTIONS.to_doc, SUBSCRIPTIONS.from_doc
outbox_doc, outbox_from = OUTBOX.to_doc, OUTBOX.from_doc
inbound_from = INBOUND.from_doc
endpoint_doc, endpoint_from = ENDPOINTS.to_doc, ENDPOINTS.from_doc
delivery_doc, delivery_from = DELIVERIES.to_doc, DELIVERIES.from_doc
dead_letter_doc, dead_letter_from = DEAD_LETTERS.to_doc, DEAD_LETTERS.from_doc


def inbound_doc(event: InboundEvent) -> Document:
    doc = INBOUND.to_doc(event)
    if doc["due_at"] is None:
        doc["due_at"] = doc["received_at"]  # due on arrival
    return doc
