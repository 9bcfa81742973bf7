"""Request bodies and query strings decoded into their Structs; every refusal names the field.

A body that is not JSON at all is a bad request (400); JSON of the wrong shape is a validation
error (422) saying which field is wrong and how, in the one error shape. Unknown fields and
query parameters are ignored, so clients can send a superset of what a route reads.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

import msgspec
from msgspec import inspect

from domain.shared.errors import ValidationFailed
from gateway.errors import ApiError

S = TypeVar("S", bound=msgspec.Struct)

_AT: Final = re.compile(r"^(?P<what>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_PATH_PART: Final = re.compile(r"\.([^.\[]+)|\[(\d+)\]")
_MISSING: Final = re.compile(r"^Object missing required field `(?P<name>[^`]+)`$")
_EXPECTED: Final = re.compile(r"^Expected `(?P<wanted>[^`]+)`, got `[^`]+`$")
_BOUND: Final = re.compile(
    r"^Expected `(?P<kind>str|array|object|int|float)`(?: of length)? (?P<op>[<>]=?) (?P<n>\S+)$"
)
_TYPE_NAMES: Final = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "array": "an array",
    "object": "an object",
    "null": "null",
    "datetime": "an ISO 8601 time",
}
_FIXED: Final = {
    "Expected `datetime` with a timezone component": "must carry a time zone (Z for UTC)",
    "Invalid RFC3339 encoded datetime": "must be an ISO 8601 time such as 2025-06-01T00:00:00Z",
}
_NO_BODY: Final = b"{}"


def decode_body(raw: bytes, schema: type[S], *, required: bool = True) -> S:
    """The body as `schema`; an empty body is `{}` where the body is optional."""
    if not required and not raw.strip():
        raw = _NO_BODY
    try:
        return msgspec.json.decode(raw, type=schema)
    except msgspec.ValidationError as error:  # a subclass of DecodeError: caught first
        raise refusal(error, schema, root="body") from None
    except msgspec.DecodeError:
        raise ApiError(400, "invalid_request", "the request body is not valid JSON") from None


def in_utc(value: datetime, field: str) -> datetime:
    """A decoded time in UTC; an offset that carries it past either end of the calendar (the first
    day at +01:00, the last at -01:00) is the caller's mistake, refused naming the field."""
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValidationFailed(field, "is outside the calendar once converted to UTC") from None


def decode_query(params: Mapping[str, str], schema: type[S]) -> S:
    """Query parameters as `schema`; an empty value (`?status=`) means "not given"."""
    given = {name: value for name, value in params.items() if value != ""}
    for name in _integer_fields(schema):
        value = given.get(name)
        # ASCII digits only: the lax conversion below would also read "+5", "5.0" or "1e2".
        if value is not None and not (value.isascii() and value.isdigit()):
            raise ValidationFailed(name, "must be an integer")
    try:
        return msgspec.convert(given, schema, strict=False)
    except msgspec.ValidationError as error:
        raise refusal(error, schema, root="query") from None


def refusal(error: msgspec.ValidationError, schema: type[Any], root: str) -> ValidationFailed:
    """msgspec's report (`Expected `str`, got `int` - at `$.provider``) as `provider: must be a string`."""
    matched = _AT.match(str(error))
    what, path = (matched["what"], matched["path"] or "") if matched else (str(error), "")
    missing = _MISSING.match(what)
    if missing:
        path = f"{path}.{missing['name']}"
    field = path.removeprefix(".") or root
    if missing:
        return ValidationFailed(field, "is required")
    return ValidationFailed(field, _message(what, _enum_at(schema, path)))


def _message(what: str, choices: type[enum.Enum] | None) -> str:
    if what in _FIXED:
        return _FIXED[what]
    if choices is not None and what.startswith(("Invalid enum value", "Expected `str")):
        return "must be one of " + ", ".join(str(choice.value) for choice in choices)
    expected = _EXPECTED.match(what)
    if expected:
        names = [_TYPE_NAMES.get(name, name) for name in expected["wanted"].split(" | ")]
        return "must be " + " or ".join(names)
    bound = _BOUND.match(what)
    if bound:
        return _bound_message(bound["kind"], bound["op"], bound["n"])
    return what[:1].lower() + what[1:]


def _bound_message(kind: str, op: str, n: str) -> str:
    most = op.startswith("<")
    exclusive = "=" not in op
    limit = (
        "less than" if most and exclusive else "more than" if exclusive else "at most" if most else "at least"
    )
    if kind == "str":
        return f"must be {limit} {n} characters long"
    if kind in ("array", "object"):
        return f"must have {limit} {n} items"
    return f"must be {limit} {n}"


@functools.cache
def _integer_fields(schema: type[Any]) -> tuple[str, ...]:
    info = inspect.type_info(schema)
    if not isinstance(info, inspect.StructType):
        return ()
    return tuple(f.encode_name for f in info.fields if isinstance(_unwrapped(f.type), inspect.IntType))


def _enum_at(schema: type[Any], path: str) -> type[enum.Enum] | None:
    """The enum a path such as `.event_types[0]` leads to in `schema`, to list its values."""
    info: inspect.Type | None = inspect.type_info(schema)
    for name, index in _PATH_PART.findall(path):
        info = _unwrapped(info)
        if index and isinstance(info, inspect.ListType | inspect.VarTupleType | inspect.SetType):
            info = info.item_type
        elif name and isinstance(info, inspect.StructType | inspect.DataclassType):
            info = next((f.type for f in info.fields if f.encode_name == name), None)
        else:
            return None
    info = _unwrapped(info)
    return info.cls if isinstance(info, inspect.EnumType) else None


def _unwrapped(info: inspect.Type | None) -> inspect.Type | None:
    """`X | None` as `X`, and `Annotated[X, Meta(...)]` as `X`: what a value, when given, must be."""
    while True:
        if isinstance(info, inspect.Metadata):
            info = info.type
        elif isinstance(info, inspect.UnionType):
            kept = [t for t in info.types if not isinstance(t, inspect.NoneType)]
            if len(kept) != 1:
                return info
            info = kept[0]
        else:
            return info
