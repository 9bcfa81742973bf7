"""Provider kits: what a provider package gives the conformance suite (`tests/contracts/
test_provider_conformance.py`) to be held to the same rules as every other provider.

A kit signs as the provider signs (never with the project's own signer) and builds the
provider's events from a few provider-neutral facts (`Snapshot`, `Renewal`). Nothing else:
the suite drives the adapter, the gateway and the subscriptions context itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from integrations.providers.interface import ProviderAdapter


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """One event about a subscription, as the provider would date and describe it."""

    event_id: str
    at: datetime  # on the provider's clock; whole seconds, which every provider can say
    status: str  # "active", "past_due" or "canceled" (every provider has these words)
    period: tuple[datetime, datetime]
    cancel_at_period_end: bool = False
    first: bool = False  # the provider's "created" event
    link: str | None = None  # our subscription's id, in the provider's link field
    subscription_id: str = "sub_conformance"
    customer_email: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Renewal:
    """A paid renewal of the subscription for `period`."""

    event_id: str
    at: datetime
    period: tuple[datetime, datetime]
    invoice_id: str
    amount: int = 2500
    subscription_id: str = "sub_conformance"


class ProviderKit(Protocol):
    name: str
    secret: str  # a secret of the shape the provider shows
    other_secret: str

    def adapter(self) -> ProviderAdapter: ...

    def sign(self, body: bytes, secrets: Sequence[str], timestamp: int, event_id: str) -> dict[str, str]:
        """The request headers the provider sends (content type included), one signature per secret."""
        ...

    def snapshot(self, step: Snapshot) -> bytes: ...

    def renewal(self, step: Renewal) -> bytes: ...

    def unknown(self, event_id: str, at: datetime) -> bytes:
        """An event of a type the provider sends and subgate does not act on."""
        ...
