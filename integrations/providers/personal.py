"""A customer's personal data in stored provider payloads, and emptying one customer's.

Each provider lists, as data (`PersonalFields`), where its events carry a customer: the paths
of the objects an event is about, the fields that name their customer (its id, or an object
with an `id`), what makes an object a customer itself, and the fields that hold personal data
(an address, a name, a phone number, an email). A provider is supported by listing its fields
in a module of its own (`stripe/personal.py`, `polar/personal.py`) and naming it in the
composition root; nothing else changes.

An event is the customer's when its main object (the first path) names one of the customer's
provider ids, is that customer, or when any value in it is one of the customer's addresses.
Then every listed personal field of its objects is set to null, and so is, anywhere in the
event, any value equal to one of those addresses. The body is stored again as compact JSON:
it is no longer the signed original, which nobody checks again once it is stored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from domain.shared.personal import Person

Json = Any
Path = tuple[str, ...]
# Provider payloads nest a few levels; deeper values are left alone (and a body is at most
# SUBGATE_MAX_BODY_BYTES anyway).
_MAX_DEPTH: Final = 32


@dataclass(frozen=True, slots=True, kw_only=True)
class PersonalFields:
    """Where one provider's events carry a customer's personal data (see the module docstring)."""

    # The objects an event is about, by path from the event's root; the first decides whose it is.
    objects: tuple[Path, ...]
    # Fields of an object that name its customer: an id, or a customer object with an `id`.
    customer_refs: tuple[str, ...]
    # (field, value) pairs that make an object a customer itself.
    customer_marks: tuple[tuple[str, str], ...] = ()
    # Event types whose object is a customer, and the root's field that holds an event's type.
    customer_events: frozenset[str] = frozenset()
    event_type_field: str = "type"
    # Personal fields of any of the objects (the customer's details copied onto an invoice...).
    fields: frozenset[str] = frozenset()
    # Personal fields of a customer object: the object itself when it is one, or one nested
    # under a customer reference.
    customer_fields: frozenset[str] = frozenset()
    # Other nested objects of personal data: their field name -> their personal fields.
    nested: Mapping[str, frozenset[str]] = field(default_factory=dict)


class ProviderPayloads:
    """The inbound context's `PersonalData` port, from each provider's `PersonalFields`."""

    def __init__(self, providers: Mapping[str, PersonalFields]) -> None:
        self._providers = dict(providers)

    def without(self, provider: str, body: bytes, person: Person) -> bytes | None:
        fields = self._providers.get(provider)
        own_id = person.provider_customer_ids.get(provider)
        ids = frozenset({own_id} if own_id else ())
        emails = frozenset(address.lower() for address in person.emails if address)
        if fields is None or not (ids or emails) or not _mentions(body, ids, emails):
            return None
        try:
            root = json.loads(body)
        except (ValueError, RecursionError):  # not JSON, or nested beyond what a parser follows
            return None
        if not isinstance(root, dict) or not _owned(fields, root, ids, emails):
            return None
        changed = _empty_fields(fields, root)
        changed = _empty_addresses(root, emails, 0) or changed
        return json.dumps(root, separators=(",", ":"), ensure_ascii=False).encode() if changed else None


def _mentions(body: bytes, ids: frozenset[str], emails: frozenset[str]) -> bool:
    """A quick look at the bytes before parsing: most events are about someone else."""
    if any(customer_id.encode() in body for customer_id in ids):
        return True
    if not emails:
        return False
    if any(not address.isascii() for address in emails) or b"\\u" in body:
        return True  # JSON may spell such an address otherwise: parse and compare
    lowered = body.lower()
    return any(address.encode() in lowered for address in emails)


def _dig(root: Json, path: Path) -> Json:
    for key in path:
        if not isinstance(root, dict):
            return None
        root = root.get(key)
    return root


def _is_customer(fields: PersonalFields, root: dict[str, Json], obj: Json) -> bool:
    if not isinstance(obj, dict):
        return False
    event_type = root.get(fields.event_type_field)
    return (isinstance(event_type, str) and event_type in fields.customer_events) or any(
        obj.get(name) == value for name, value in fields.customer_marks
    )


def _reference(value: Json) -> str | None:
    """The id a customer reference holds: the value itself, or an embedded object's `id`."""
    found = value.get("id") if isinstance(value, dict) else value
    return found if isinstance(found, str) else None


def _owned(
    fields: PersonalFields, root: dict[str, Json], ids: frozenset[str], emails: frozenset[str]
) -> bool:
    main = _dig(root, fields.objects[0]) if fields.objects else None
    if isinstance(main, dict):
        if _is_customer(fields, root, main) and _reference(main) in ids:
            return True
        if any(_reference(main.get(ref)) in ids for ref in fields.customer_refs):
            return True
    return _holds_address(root, emails, 0)


def _holds_address(value: Json, emails: frozenset[str], depth: int) -> bool:
    if isinstance(value, str):
        return value.lower() in emails
    if depth >= _MAX_DEPTH:
        return False
    if isinstance(value, dict):
        return any(_holds_address(item, emails, depth + 1) for item in value.values())
    if isinstance(value, list):
        return any(_holds_address(item, emails, depth + 1) for item in value)
    return False


def _nulled(obj: dict[str, Json], names: frozenset[str]) -> bool:
    found = [name for name in names if obj.get(name) is not None]
    for name in found:
        obj[name] = None
    return bool(found)


def _empty_fields(fields: PersonalFields, root: dict[str, Json]) -> bool:
    changed = False
    is_customer = _is_customer(fields, root, _dig(root, fields.objects[0]))
    for path in fields.objects:
        obj = _dig(root, path)
        if not isinstance(obj, dict):
            continue
        changed = _nulled(obj, fields.fields) or changed
        if is_customer:
            changed = _nulled(obj, fields.customer_fields) or changed
        for ref in fields.customer_refs:
            if isinstance(customer := obj.get(ref), dict):
                changed = _nulled(customer, fields.customer_fields) or changed
        for name, personal in fields.nested.items():
            if isinstance(inner := obj.get(name), dict):
                changed = _nulled(inner, personal) or changed
    return changed


def _empty_addresses(value: Json, emails: frozenset[str], depth: int) -> bool:
    """Null every value, anywhere, that is one of the addresses (one a list left unnamed)."""
    if depth >= _MAX_DEPTH or not emails:
        return False
    changed = False
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, str) and item.lower() in emails:
                value[key] = None
                changed = True
            else:
                changed = _empty_addresses(item, emails, depth + 1) or changed
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, str) and item.lower() in emails:
                value[index] = None
                changed = True
            else:
                changed = _empty_addresses(item, emails, depth + 1) or changed
    return changed
