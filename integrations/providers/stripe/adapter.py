"""Stripe: signature check on the raw bytes, a fast envelope parse, and normalization.

What each event type becomes is the table in `integrations.providers.stripe.table`. Snapshot
events carry their object (`data.object`); thin events (`object: "v2.core.event"`,
type `v1.<type>`) only name it in `related_object`, and the object is fetched with the
connection's `api_key` when the event is processed (`commands`). Merchants' subscription
requests are carried out at Stripe by `management`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from domain.inbound.model import InboundEvent
from domain.shared.clock import Clock, system_clock
from domain.subscriptions.commands import SyncSubscription
from domain.subscriptions.provider import ProviderActions
from integrations.providers import readers
from integrations.providers.interface import (
    ApiKeyLookup,
    Context,
    Envelope,
    Ignored,
    MalformedRequest,
    MissingSignature,
    Normalized,
    PayloadError,
    ProviderAdapter,
    ProviderRefused,
    SignatureRejected,
    SignedRequest,
)
from integrations.providers.readers import checked_envelope, json_object
from integrations.providers.stripe import payloads as p
from integrations.providers.stripe.api import StripeApi
from integrations.providers.stripe.management import StripeManagement
from integrations.providers.stripe.signature import (
    InvalidSignature,
    MalformedSignatureHeader,
    verify_stripe_signature,
)
from integrations.providers.stripe.table import TABLE, snapshot

SIGNATURE_HEADER = "stripe-signature"
THIN_EVENT_OBJECT = "v2.core.event"
THIN_TYPE_PREFIX = "v1."


def _is_thin(event: dict[str, Any]) -> bool:
    return event.get("object") == THIN_EVENT_OBJECT


def _table_type(event: dict[str, Any]) -> str:
    """The table's name for the event's type (a thin event's `v1.` prefix dropped)."""
    event_type = str(event.get("type"))
    if _is_thin(event):
        return event_type.removeprefix(THIN_TYPE_PREFIX)
    return event_type


async def _no_api_keys(_: str) -> str | None:
    return None


class StripeAdapter(ProviderAdapter):
    name = "stripe"

    def __init__(
        self,
        *,
        api_keys: ApiKeyLookup = _no_api_keys,
        api: StripeApi | None = None,
        clock: Clock = system_clock,
        management: ProviderActions | None = None,
    ) -> None:
        self._api_keys = api_keys
        self._api = api or StripeApi()
        self._clock = clock
        self.management = management or StripeManagement()

    def verify(self, request: SignedRequest) -> None:
        header = request.headers.get(SIGNATURE_HEADER)
        if not header:
            raise MissingSignature("Stripe-Signature header is required")
        try:
            verify_stripe_signature(
                request.body, header, request.secrets, request.now, request.tolerance_seconds
            )
        except MalformedSignatureHeader as error:
            raise MalformedRequest(f"Stripe-Signature: {error}") from None
        except InvalidSignature as error:
            raise SignatureRejected(str(error) or type(error).__name__) from None

    def envelope(self, body: bytes, headers: Mapping[str, str]) -> Envelope:  # noqa: ARG002 - part of the adapter interface; Stripe needs only the body
        event = json_object(body)
        return checked_envelope(
            event.get("id"), event.get("type"), lambda: p.event_time(event.get("created"), "created")
        )

    def normalize(self, body: bytes, merchant_id: str, source_key: str) -> Normalized:
        return _normalized(json_object(body), merchant_id, source_key)

    async def commands(self, event: InboundEvent) -> Normalized:
        """`normalize`, with a thin event's object fetched from Stripe with the connection's key."""
        document = json_object(event.body)
        handler = TABLE.get(_table_type(document))
        if handler is None or not _is_thin(document):
            # Decoded once: a snapshot event is normalized from this very document.
            return _normalized(document, event.merchant_id, event.id)
        related = readers.obj(document.get("related_object"), "related_object")
        kind = readers.text(related.get("type"), "related_object.type")
        object_id = readers.text(related.get("id"), "related_object.id")
        fetched = await self._fetch(event, kind, object_id)
        # The fetched object is Stripe's state now, which is at least as new as the event.
        ctx = Context(
            merchant_id=event.merchant_id,
            source_key=event.id,
            event_type=_table_type(document),
            created=max(_created(document), self._clock()),
        )
        return handler(fetched, ctx)

    async def fetch_subscription(
        self, event: InboundEvent, provider_subscription_id: str
    ) -> SyncSubscription | None:
        if await self._api_keys(event.connection_id) is None:
            return None
        fetched = await self._fetch(event, "subscription", provider_subscription_id)
        ctx = Context(
            merchant_id=event.merchant_id,
            source_key=f"{event.id}#subscription:{provider_subscription_id}",
            event_type="customer.subscription.updated",
            created=self._clock(),
        )
        return snapshot(fetched, ctx)

    async def _fetch(self, event: InboundEvent, kind: str, object_id: str) -> dict[str, Any]:
        api_key = await self._api_keys(event.connection_id)
        if api_key is None:
            raise ProviderRefused(
                f"event {event.provider_event_id} needs {kind} {object_id} from Stripe, and its "
                "connection has no api_key: set one (PATCH /v1/connections/{id}), then reprocess"
            )
        return await self._api.retrieve(api_key, kind, object_id)


def _normalized(event: dict[str, Any], merchant_id: str, source_key: str) -> Normalized:
    """`StripeAdapter.normalize` of an already decoded event."""
    event_type = _table_type(event)
    handler = TABLE.get(event_type)
    if handler is None:
        return Ignored(reason=f"event type {event.get('type')!r} is not handled")
    if _is_thin(event):
        raise PayloadError("a thin event carries no object; it is fetched with the connection's api_key")
    data = readers.obj(event.get("data"), "event.data")
    ctx = Context(
        merchant_id=merchant_id,
        source_key=source_key,
        event_type=event_type,
        created=_created(event),
        previous_attributes=data.get("previous_attributes"),
    )
    return handler(readers.obj(data.get("object"), "event.data.object"), ctx)


def _created(event: dict[str, Any]) -> datetime:
    created = p.event_time(event.get("created"), "created")
    if created is None:
        raise PayloadError("event.created is missing")
    return created
