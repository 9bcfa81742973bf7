"""Polar: Standard Webhooks verification on the raw bytes, the envelope, and normalization.

What each event type becomes is the table in `integrations.providers.polar.table`. Polar's
payloads carry their whole object, so nothing is ever fetched; subscriptions Polar bills are
not managed from here.
"""

from __future__ import annotations

from collections.abc import Mapping

from integrations.providers.interface import Envelope, Normalized, ProviderAdapter, SignedRequest
from integrations.providers.polar import payloads as p
from integrations.providers.polar.signature import ID_HEADER, verify_polar_signature
from integrations.providers.polar.table import TABLE
from integrations.providers.readers import EventFields, checked_envelope, dispatched, json_object

_FIELDS = EventFields(type="type", time="timestamp", read_time=p.time)


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
            event.get(_FIELDS.type),
            lambda: _FIELDS.created(event),
            id_name=f"{ID_HEADER} header",
        )

    def normalize(self, body: bytes, merchant_id: str, source_key: str) -> Normalized:
        return dispatched(json_object(body), TABLE, _FIELDS, merchant_id, source_key)
