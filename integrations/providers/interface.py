"""What a payment provider is to subgate: one object per provider, asked by the gateway and the workers.

A provider is one package under `integrations.providers` whose adapter implements
`ProviderAdapter`:

    verify       the signature on the raw bytes (the gateway, before anything is stored),
                 and which way it was signed when the provider has more than one
    envelope     the event's id, type and time, read at the door
    normalize    a stored event's domain commands, through the provider's table (pure)
    commands     what the worker runs for a stored event: `normalize` unless the provider
                 completes its events from its API (Stripe's thin events name an object
                 without carrying it, and it is fetched with the connection's API key)
    fetch_subscription
                 the provider's view of a subscription an event refers to but no event has
                 shown yet (None: this provider cannot fetch, or the connection holds no key)
    management   how merchants' subscription requests are carried out at the provider
                 (None: subgate runs the subscriptions of this provider itself)

The last three have defaults here, so a provider implements only what it can do, and the
worker asks every provider the same way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Protocol, TypedDict

from domain.inbound.model import InboundEvent
from domain.subscriptions.commands import ProviderCommand, SyncSubscription
from domain.subscriptions.provider import ProviderActions

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
class SignedRequest:
    """What verification is given: the raw bytes, their headers (lower-case names), the
    connection's secrets, and the time and tolerance the signature's timestamp is held to."""

    body: bytes
    headers: Mapping[str, str]
    secrets: Sequence[str]
    now: datetime
    tolerance_seconds: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Envelope:
    event_id: str
    type: str
    created_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Ignored:
    reason: str


class Origin(TypedDict):
    """Whose, from which input and which provider a command is: the start of every command."""

    source_key: str
    merchant_id: str
    provider: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Context:
    """What a table's handler knows besides the event's object: who, which input, which event, when."""

    merchant_id: str
    source_key: str
    event_type: str
    # The event's own time, when the provider sent one.
    created: datetime | None
    # What the change came from, when the provider says (Stripe's `data.previous_attributes`).
    previous_attributes: Any = None

    def origin(self, provider: str) -> Origin:
        return Origin(source_key=self.source_key, merchant_id=self.merchant_id, provider=provider)

    def key(self, suffix: str) -> str:
        """A second command of the same event needs a source key of its own."""
        return f"{self.source_key}#{suffix}"

    def time(self) -> datetime:
        """The event's time; PayloadError when it carries none."""
        if self.created is None:
            raise PayloadError("event.created is missing")
        return self.created


Normalized = Sequence[ProviderCommand] | Ignored
Handler = Callable[[dict[str, Any], Context], Normalized]
"""One row of a provider's table: the event's object and its context -> commands, or Ignored."""


class ProviderAdapter(Protocol):
    """One payment provider (see the module docstring); subclass it to inherit the defaults."""

    name: ClassVar[str]
    management: ProviderActions | None = None

    def verify(self, request: SignedRequest) -> str | None:
        """Raises MissingSignature, MalformedRequest or SignatureRejected. Returns, for a provider
        that signs more than one way, the name of the way that verified (the connection's
        `signing_scheme`); None for a provider with one way."""
        ...

    def envelope(self, body: bytes, headers: Mapping[str, str]) -> Envelope:
        """Raises MalformedRequest for anything that is not a well-formed event object."""
        ...

    def normalize(self, body: bytes, merchant_id: str, source_key: str) -> Normalized:
        """Domain commands for a stored event, or Ignored for types we do not act on.

        Pure: reads the bytes only. Raises PayloadError for an unusable payload.
        """
        ...

    async def commands(self, event: InboundEvent) -> Normalized:
        """What the worker runs for a stored event: its commands, fetching what the payload lacks.

        Raises PayloadError, ProviderUnavailable (transient) or ProviderRefused.
        """
        return self.normalize(event.body, event.merchant_id, event.id)

    async def fetch_subscription(
        self,
        event: InboundEvent,  # noqa: ARG002 - what a provider that fetches needs
        provider_subscription_id: str,  # noqa: ARG002 - likewise
    ) -> SyncSubscription | None:
        """The provider's current view of a subscription `event` refers to but no event has shown
        yet; None when it cannot be fetched (no API to ask, or no key to ask with)."""
        return None
