"""The provider adapter interface: adding a payment provider means adding one module.

An adapter verifies a request's signature on the raw bytes, reads the event
envelope, and later normalizes the stored event into domain commands through one
table (event type -> handler) that lives in the provider's module.

Some payloads lack what is needed (Stripe's thin events name an object without
carrying it). An adapter that can fetch the missing object from the provider's API,
with the API key of the connection the event came through, also implements
`FetchingAdapter`; the worker then asks it for the event's commands instead of
normalizing the stored bytes alone.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, cast

from domain.inbound.model import InboundEvent
from domain.subscriptions.commands import (
    AnnounceTrialEnd,
    LinkSubscription,
    RecordPayment,
    RecordPaymentFailure,
    SyncSubscription,
)

Command = SyncSubscription | RecordPayment | RecordPaymentFailure | AnnounceTrialEnd | LinkSubscription

ApiKeyLookup = Callable[[str], Awaitable[str | None]]
"""A connection id -> the provider API key it holds (None: no key, or no such connection)."""


class MissingSignature(Exception):
    """The signature headers are absent (400)."""


class MalformedRequest(Exception):
    """Unparseable signature header or payload (400)."""


class SignatureRejected(Exception):
    """No secret verifies the signature, or the timestamp is outside tolerance (401)."""


class PayloadError(ValueError):
    """A stored event lacks a field we need, or has it in an unusable shape (the event fails)."""


class ProviderUnavailable(Exception):
    """The provider's API could not answer now (timeout, 5xx, 429): try the event again later."""


class ProviderRefused(Exception):
    """The provider's API refused what we asked (a bad key, an unknown object): the event fails.

    Fixing the cause (a PATCH of the connection's `api_key`) and reprocessing the event runs it again.
    """


@dataclass(frozen=True, slots=True, kw_only=True)
class Envelope:
    event_id: str
    type: str
    created_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Ignored:
    reason: str


class ProviderAdapter(Protocol):
    name: str

    def verify(
        self,
        body: bytes,
        headers: Mapping[str, str],
        secrets: Sequence[str],
        now: datetime,
        tolerance_seconds: int,
    ) -> None:
        """Raises MissingSignature, MalformedRequest or SignatureRejected."""
        ...

    def envelope(self, body: bytes, headers: Mapping[str, str]) -> Envelope:
        """Raises MalformedRequest for anything that is not a well-formed event object."""
        ...

    def normalize(self, body: bytes, merchant_id: str, source_key: str) -> Sequence[Command] | Ignored:
        """Domain commands for a stored event, or Ignored for types we do not act on.

        Pure: reads the bytes only. Raises PayloadError for an unusable payload.
        """
        ...


class FetchingAdapter(Protocol):
    """An adapter that completes events from the provider's API (see the module docstring)."""

    async def commands(self, event: InboundEvent) -> Sequence[Command] | Ignored:
        """`normalize`, fetching what the payload lacks.

        Raises PayloadError, ProviderUnavailable (transient) or ProviderRefused.
        """
        ...

    async def fetch_subscription(
        self, event: InboundEvent, provider_subscription_id: str
    ) -> SyncSubscription | None:
        """The provider's current view of a subscription the event refers to but we have not
        seen yet; None when the event's connection holds no API key to ask with.
        """
        ...


@functools.cache
def _fetches(adapter_class: type) -> bool:
    """Whether instances of `adapter_class` are `FetchingAdapter`s, asked once per class: the check
    of a runtime-checkable protocol walks its members on every call, and runs once per event."""
    return all(callable(getattr(adapter_class, name, None)) for name in ("commands", "fetch_subscription"))


def fetching(adapter: ProviderAdapter) -> FetchingAdapter | None:
    """`adapter` as a `FetchingAdapter`, or None when it only normalizes payloads."""
    if _fetches(type(adapter)):
        return cast("FetchingAdapter", adapter)
    return None


async def event_commands(adapter: ProviderAdapter, event: InboundEvent) -> Sequence[Command] | Ignored:
    """What the worker runs for a stored event."""
    if (fetcher := fetching(adapter)) is not None:
        return await fetcher.commands(event)
    return adapter.normalize(event.body, event.merchant_id, event.id)


async def missing_subscription(
    adapter: ProviderAdapter, event: InboundEvent, provider_subscription_id: str
) -> SyncSubscription | None:
    """A snapshot of a subscription an event needs but nothing created yet, if it can be fetched."""
    if (fetcher := fetching(adapter)) is not None:
        return await fetcher.fetch_subscription(event, provider_subscription_id)
    return None
