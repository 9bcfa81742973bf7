"""Public JSON representations of domain values. Secrets never appear unless a route asks for one."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from domain.billing.model import InboundEvent
from domain.merchants.model import Connection
from domain.notifications.model import Attempt, DeadLetter, Delivery, Endpoint
from domain.shared.clock import public_time
from domain.shared.pagination import Page

T = TypeVar("T")

View = dict[str, Any]


def page_view(page: Page[T], view: Callable[[T], View]) -> View:
    return {"data": [view(item) for item in page.items], "has_more": page.has_more}


def list_view(items: Sequence[T], has_more: bool, view: Callable[[T], View]) -> View:
    return {"data": [view(item) for item in items], "has_more": has_more}


def webhook_url(base_url: str, connection: Connection) -> str:
    return f"{base_url.rstrip('/')}/webhooks/{connection.provider.value}/{connection.id}"


def connection_view(connection: Connection, base_url: str) -> View:
    # Neither the webhook secrets nor the provider API key ever leave the service.
    return {
        "id": connection.id,
        "provider": connection.provider.value,
        "webhook_url": webhook_url(base_url, connection),
        "created_at": public_time(connection.created_at),
    }


def endpoint_view(endpoint: Endpoint) -> View:
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "event_types": list(endpoint.event_types),
        "description": endpoint.description,
        "enabled": endpoint.enabled,
        "created_at": public_time(endpoint.created_at),
    }


def created_endpoint_view(endpoint: Endpoint) -> View:
    """The only time the signing secret is shown: right after creation."""
    return {**endpoint_view(endpoint), "secret": endpoint.secrets[0].value}


def _attempt_view(attempt: Attempt) -> View:
    return {
        "at": public_time(attempt.at),
        "status_code": attempt.status_code,
        "duration_ms": attempt.duration_ms,
        "error": attempt.error,
        "response_body": attempt.response_excerpt,  # the first 2 KB of what the endpoint answered
    }


def _delivery_base(delivery: Delivery) -> View:
    return {
        "id": delivery.id,
        "endpoint_id": delivery.endpoint_id,
        "message_id": delivery.message_id,
        "event_type": delivery.event_type,
        "status": delivery.status.value,
        "next_attempt_at": public_time(delivery.next_attempt_at),
        "created_at": public_time(delivery.created_at),
        "updated_at": public_time(delivery.updated_at),
    }


def delivery_view(delivery: Delivery) -> View:
    """One representation in lists and by id: a delivery carries its whole attempt log."""
    return {**_delivery_base(delivery), "attempts": [_attempt_view(a) for a in delivery.attempts]}


def dead_letter_view(dead_letter: DeadLetter) -> View:
    return {
        "id": dead_letter.id,
        "kind": dead_letter.kind.value,
        "delivery_id": dead_letter.delivery_id,
        "reason": dead_letter.reason,
        "created_at": public_time(dead_letter.created_at),
    }


def inbound_event_view(event: InboundEvent) -> View:
    # The raw body and the trace carrier are internal; the body may hold provider data
    # the merchant already has, and there is no reason to widen its exposure.
    return {
        "id": event.id,
        "connection_id": event.connection_id,
        "provider": event.provider,
        "provider_event_id": event.provider_event_id,
        "type": event.type,
        "status": event.status.value,
        "source_ip": event.source_ip,
        "received_at": public_time(event.received_at),
        "reason": event.reason,
    }
