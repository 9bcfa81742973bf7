"""Paddle Billing: `Paddle-Signature` on the raw bytes, the envelope, normalization, management.

What each event type becomes is the table in `integrations.providers.paddle.table`. Paddle's
payloads carry their whole object, so nothing is fetched; merchants' cancel, pause and
resume requests are carried out at Paddle with the connection's `api_key` (`management`).
"""

from __future__ import annotations

from collections.abc import Mapping

from domain.subscriptions.provider import ProviderActions
from integrations.providers.interface import Envelope, Normalized, ProviderAdapter, SignedRequest
from integrations.providers.paddle import payloads as p
from integrations.providers.paddle.management import PaddleManagement
from integrations.providers.paddle.signature import verify_paddle_signature
from integrations.providers.paddle.table import TABLE
from integrations.providers.readers import EventFields, checked_envelope, dispatched, json_object

_FIELDS = EventFields(type="event_type", time="occurred_at", read_time=p.time)


class PaddleAdapter(ProviderAdapter):
    name = "paddle"

    def __init__(self, *, management: ProviderActions | None = None) -> None:
        self.management = management or PaddleManagement()

    def verify(self, request: SignedRequest) -> None:
        verify_paddle_signature(
            request.body, request.headers, request.secrets, request.now, request.tolerance_seconds
        )

    def envelope(self, body: bytes, headers: Mapping[str, str]) -> Envelope:  # noqa: ARG002 - part of the adapter interface; Paddle needs only the body
        event = json_object(body)
        return checked_envelope(
            event.get("event_id"),
            event.get(_FIELDS.type),
            lambda: _FIELDS.created(event),
        )

    def normalize(self, body: bytes, merchant_id: str, source_key: str) -> Normalized:
        return dispatched(json_object(body), TABLE, _FIELDS, merchant_id, source_key)
