"""Polar: Standard Webhooks verification on the raw bytes, the envelope, and normalization.

What each event type becomes is the table in `integrations.providers.polar.table`. Polar's
payloads carry their whole object, so nothing is ever fetched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson

from integrations.providers.interface import (
    Command,
    Envelope,
    Ignored,
    MalformedRequest,
    MissingSignature,
    PayloadError,
    SignatureRejected,
)
from integrations.providers.polar import payloads as p
from integrations.providers.polar.signature import (
    ID_HEADER,
    InvalidSignature,
    MalformedSignature,
    MissingHeaders,
    verify_polar_signature,
)
from integrations.providers.polar.table import TABLE, Context

MAX_TYPE_LENGTH = 255


def _event(body: bytes) -> dict[str, Any]:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise MalformedRequest(f"body is not valid JSON: {error}") from None
    if not isinstance(parsed, dict):
        raise MalformedRequest("body is not a JSON object")
    return parsed


class PolarAdapter:
    name = "polar"

    def verify(
        self,
        body: bytes,
        headers: Mapping[str, str],
        secrets: Sequence[str],
        now: datetime,
        tolerance_seconds: int,
    ) -> None:
        try:
            verify_polar_signature(body, headers, secrets, now, tolerance_seconds)
        except MissingHeaders as error:
            raise MissingSignature(str(error)) from None
        except MalformedSignature as error:
            raise MalformedRequest(str(error)) from None
        except InvalidSignature as error:
            raise SignatureRejected(str(error)) from None

    def envelope(self, body: bytes, headers: Mapping[str, str]) -> Envelope:
        event = _event(body)
        event_id = headers.get(ID_HEADER)
        if not event_id:
            raise MalformedRequest(f"{ID_HEADER} header is missing")
        event_type = event.get("type")
        if not isinstance(event_type, str) or not event_type or len(event_type) > MAX_TYPE_LENGTH:
            raise MalformedRequest("event type is missing")
        try:
            created = p.time(event.get("timestamp"), "timestamp")
        except PayloadError as error:
            raise MalformedRequest(str(error)) from None
        return Envelope(event_id=event_id, type=event_type, created_at=created)

    def normalize(self, body: bytes, merchant_id: str, source_key: str) -> Sequence[Command] | Ignored:
        event = _event(body)
        handler = TABLE.get(str(event.get("type")))
        if handler is None:
            return Ignored(reason=f"event type {event.get('type')!r} is not handled")
        ctx = Context(
            merchant_id=merchant_id,
            source_key=source_key,
            timestamp=p.time(event.get("timestamp"), "timestamp"),
        )
        return handler(p.obj(event.get("data"), "data"), ctx)
