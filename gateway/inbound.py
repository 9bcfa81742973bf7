"""`POST /webhooks/{provider}/{connection_id}`: verify the raw bytes, store them, answer fast.

The checks run in the contract's order: provider (404), connection (404), content type
(415), size (413), signature (400/401), envelope (400); only then is anything stored.
Whatever goes wrong while storing answers 503, so the provider retries instead of
believing we kept an event we did not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import structlog
from opentelemetry import trace
from starlette.requests import Request
from starlette.responses import Response

from domain.inbound.external import Receipt, VerifiedEvent
from domain.merchants.model import Connection
from domain.shared.errors import NotFound
from gateway.body import is_json_media_type, read_limited
from gateway.client_ip import IPNetwork, client_ip
from gateway.deps import GatewayDeps
from gateway.errors import ApiError
from gateway.middleware import name_request_span
from gateway.responses import error_response, json_response
from gateway.routing import Answer, Header, Operation
from gateway.schemas.webhooks import ProviderEvent, WebhookReceipt
from integrations.providers.interface import (
    MalformedRequest,
    MissingSignature,
    ProviderAdapter,
    SignatureRejected,
    SignedRequest,
)
from integrations.stores.documents import StorageError
from integrations.telemetry.metrics import UNKNOWN_PROVIDER

log = structlog.get_logger()

SPAN_NAME = "POST /webhooks/{provider}"
PATH = "/webhooks/{provider}/{connection_id}"
_SIGNATURE_HEADERS = (
    Header(name="Stripe-Signature", description="Stripe: `t=<unix time>,v1=<hex HMAC-SHA256>`."),
    Header(name="webhook-id", description="Polar (Standard Webhooks): the message id."),
    Header(name="webhook-timestamp", description="Polar (Standard Webhooks): unix time of sending."),
    Header(
        name="webhook-signature", description="Polar (Standard Webhooks): `v1,<base64>`, space separated."
    ),
    Header(
        name="Paddle-Signature",
        description="Paddle: `ts=<unix time>;h1=<hex HMAC-SHA256 of ts:body>`, several `h1` in a rotation.",
    ),
)
# A store that is down shows up as StorageError from our adapters; raw socket and timeout
# errors (OSError covers both) may still escape a driver.
_LOOKUP_FAILURES = (StorageError, OSError)


class _Unavailable(Exception):
    """Storing or queueing failed: nothing can be promised to the provider, which must retry."""


class _Refused(ApiError):
    """A rejection with the short outcome name used in logs and span attributes."""

    def __init__(self, status_code: int, error_type: str, message: str, outcome: str) -> None:
        super().__init__(status_code, error_type, message)
        self.outcome = outcome


@dataclass(frozen=True, slots=True)
class _Accepted:
    receipt: Receipt
    details: dict[str, Any]


def _first_values(request: Request) -> dict[str, str]:
    """Lower-case header names to their first value (a repeated signature header is not merged)."""
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        headers.setdefault(name.lower(), value)
    return headers


class InboundWebhooks:
    def __init__(self, deps: GatewayDeps, trusted_proxies: Sequence[IPNetwork]) -> None:
        self._deps = deps
        self._trusted = tuple(trusted_proxies)
        self._metrics = deps.telemetry.metrics

    def operation(self) -> Operation:
        return Operation(
            method="POST",
            path=PATH,
            endpoint=self.handle,
            operation_id="webhooks_receive",
            summary="Receive a provider's webhook",
            description=__doc__,
            tag="webhooks",
            body=ProviderEvent,
            headers=_SIGNATURE_HEADERS,
            answers=(Answer(status=200, schema=WebhookReceipt, description="Stored, or already stored."),),
            errors=frozenset({400, 401, 404, 413, 415, 503}),
        )

    async def handle(self, request: Request) -> Response:
        provider = str(request.path_params["provider"])
        connection_id = str(request.path_params["connection_id"])
        name_request_span(request, SPAN_NAME)
        span = trace.get_current_span()
        span.set_attribute("subgate.provider", provider)
        span.set_attribute("subgate.connection_id", connection_id)
        fields: dict[str, Any] = {"provider": provider, "connection_id": connection_id}
        try:
            accepted = await self._accept(request, provider, connection_id)
        except _Refused as refused:
            self._count(provider, refused.outcome)
            return self._finish(
                span,
                fields,
                refused.outcome,
                refused.status_code,
                error_response(refused.status_code, refused.error_type, refused.message),
                reason=refused.message,
            )
        except _Unavailable as error:
            self._count(provider, "unavailable")
            log.exception(
                "inbound_webhook",
                **fields,
                outcome="unavailable",
                status_code=503,
                error=type(error.__cause__).__name__,
            )
            span.set_attribute("subgate.outcome", "unavailable")
            return error_response(
                503, "service_unavailable", "the event could not be stored; nothing was accepted, retry later"
            )
        outcome = accepted.receipt.value
        self._count(provider, outcome)
        return self._finish(
            span, {**fields, **accepted.details}, outcome, 200, json_response({"status": outcome})
        )

    def _count(self, provider: str, outcome: str) -> None:
        # The provider in the URL is the caller's text: only known names become label values.
        known = provider if provider in self._deps.providers else UNKNOWN_PROVIDER
        self._metrics.inbound_event(known, outcome)

    @staticmethod
    def _finish(
        span: trace.Span,
        fields: dict[str, Any],
        outcome: str,
        status_code: int,
        response: Response,
        reason: str | None = None,
    ) -> Response:
        span.set_attribute("subgate.outcome", outcome)
        # One line per outcome; never the body, the headers or any secret.
        emit = log.info if status_code < HTTPStatus.BAD_REQUEST else log.warning
        emit("inbound_webhook", **fields, outcome=outcome, status_code=status_code, reason=reason)
        return response

    async def _accept(self, request: Request, provider: str, connection_id: str) -> _Accepted:
        adapter = self._deps.providers.get(provider)
        if adapter is None:
            raise _Refused(404, "not_found", f"unknown provider {provider!r}", "unknown_provider")
        connection = await self._connection(provider, connection_id)
        body = await self._body(request)
        headers = _first_values(request)
        scheme = self._verify(adapter, body, headers, connection)
        try:
            envelope = adapter.envelope(body, headers)
        except MalformedRequest as error:
            raise _Refused(400, "invalid_request", str(error), "malformed_event") from None
        try:
            # Before the event is stored: a failure here is a 503 with nothing accepted.
            await self._deps.merchants.note_signing_scheme(connection, scheme)
        except Exception as error:
            raise _Unavailable from error
        source_ip = client_ip(
            request.client.host if request.client else None,
            request.headers.getlist("x-forwarded-for"),
            self._trusted,
        )
        verified = VerifiedEvent(
            merchant_id=connection.merchant_id,
            connection_id=connection.id,
            provider=provider,
            provider_event_id=envelope.event_id,
            type=envelope.type,
            body=body,  # the very bytes that were verified, never re-encoded
            source_ip=source_ip,
            provider_created_at=envelope.created_at,
            # Taken here, inside the request span, so the worker continues this trace.
            trace_carrier=self._deps.telemetry.carrier(),
        )
        try:
            receipt = await self._deps.inbound.receive(verified)
        except Exception as error:
            # Whatever failed here (store, queue client, driver), the event may not be both
            # stored and queued; only a non-2xx answer makes the provider send it again, and a
            # retry of an event that did get stored is answered `duplicate`.
            raise _Unavailable from error
        details = {
            "provider_event_id": envelope.event_id,
            "event_type": envelope.type,
            "source_ip": source_ip,
            "merchant_id": connection.merchant_id,
        }
        return _Accepted(receipt=receipt, details=details)

    async def _body(self, request: Request) -> bytes:
        """The raw bytes of a JSON body within the size limit (415, 413 or 400 otherwise)."""
        if not is_json_media_type(request.headers.get("content-type")):
            raise _Refused(
                415,
                "unsupported_media_type",
                "Content-Type must be application/json",
                "unsupported_media_type",
            )
        try:
            return await read_limited(request, self._deps.config.max_body_bytes)
        except ApiError as error:
            raise _Refused(
                error.status_code,
                error.error_type,
                error.message,
                "too_large"
                if error.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
                else "unreadable_body",
            ) from None

    async def _connection(self, provider: str, connection_id: str) -> Connection:
        try:
            return await self._deps.merchants.connection_for_webhook(provider, connection_id)
        except _LOOKUP_FAILURES as error:
            raise _Unavailable from error
        except NotFound:
            raise _Refused(
                404, "not_found", f"unknown connection {connection_id!r}", "unknown_connection"
            ) from None

    def _verify(
        self, adapter: ProviderAdapter, body: bytes, headers: dict[str, str], connection: Connection
    ) -> str | None:
        """The way the signature was made (for providers with more than one), or a refusal."""
        settings = self._deps.config
        try:
            return adapter.verify(
                SignedRequest(
                    body=body,
                    headers=headers,
                    secrets=connection.webhook_secrets,
                    now=self._deps.clock(),
                    tolerance_seconds=settings.webhook_tolerance_seconds,
                )
            )
        except MissingSignature as error:
            raise _Refused(400, "invalid_request", str(error), "missing_signature") from None
        except MalformedRequest as error:
            raise _Refused(400, "invalid_request", str(error), "malformed_signature") from None
        except SignatureRejected as error:
            raise _Refused(401, "invalid_signature", str(error), "signature_rejected") from None
