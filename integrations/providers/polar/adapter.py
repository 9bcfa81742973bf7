"""Polar: Standard Webhooks verification on the raw bytes, the envelope, and normalization.

What each event type becomes is the table in `integrations.providers.polar.table`. Polar's
payloads carry their whole object, so nothing is ever fetched; subscriptions Polar bills are
not managed from here.
"""

from __future__ import annotations

from collections.abc import Mapping

from integrations.providers import readers
from integrations.providers.interface import (
    Context,
    Envelope,
    Ignored,
    Normalized,
    ProviderAdapter,
    SignedRequest,
)
from integrations.providers.polar import payloads as p
from integrations.providers.polar.signature import ID_HEADER, verify_polar_signature
from integrations.providers.polar.table import TABLE
from integrations.providers.readers import checked_envelope, json_object


class PolarAdapter(ProviderAdapter):
    name = "polar"

    def verify(self, request: SignedRequest) -> str:
        """The way the signature was keyed (`SigningScheme`): the connection shows the last one."""
        verified = verify_polar_signature(
            request.body, request.headers, request.secrets, request.now, request.tolerance_seconds
        )
        return verified.scheme.value

    def envelope(self, body: bytes, headers: Mapping[str, str]) -> Envelope:
        event = json_object(body)
        return checked_envelope(
            headers.get(ID_HEADER),
            event.get("type"),
            lambda: p.time(event.get("timestamp"), "timestamp"),
            id_name=f"{ID_HEADER} header",
        )

    def normalize(self, body: bytes, merchant_id: str, source_key: str) -> Normalized:
        event = json_object(body)
        event_type = str(event.get("type"))
        handler = TABLE.get(event_type)
        if handler is None:
            return Ignored(reason=f"event type {event.get('type')!r} is not handled")
        ctx = Context(
            merchant_id=merchant_id,
            source_key=source_key,
            event_type=event_type,
            created=p.time(event.get("timestamp"), "timestamp"),
        )
        return handler(readers.obj(event.get("data"), "data"), ctx)
