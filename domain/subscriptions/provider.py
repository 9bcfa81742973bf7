"""Ports for carrying out merchants' requests at a payment provider, and how the provider refuses.

When the merchant's connection for a provider holds an `api_key`, subscriptions there are
created, canceled, paused and resumed through `ProviderActions` (Stripe's lives in
`integrations.providers.stripe.management`); the provider's webhooks then bring the new state, as for
any change made at the provider. The provider is asked with an idempotency key, so a request
retried after a timeout cannot do the work twice there.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from domain.shared.errors import Conflict, DomainError
from domain.shared.ids import new_id
from domain.subscriptions.model import Standing


class ProviderDeclined(DomainError):
    """The provider refused to take the payment the request needs (a declined card): 402."""

    kind = "payment_declined"


class ProviderRejected(Conflict):
    """The provider refused the request itself (no such price or customer, a state it forbids): 409."""

    kind = "provider_rejected"


class ProviderUnreachable(DomainError):
    """The provider did not answer in time or failed (5xx, 429, a refused key): 502.

    Nothing was stored here; the provider may or may not have done the work, and a retry
    with the same Idempotency-Key asks it again under the same idempotency key.
    """

    kind = "provider_unavailable"


class NotManagedHere(Conflict):
    """A provider's subscription that subgate cannot ask the provider to change: 409."""

    kind = "managed_at_provider"


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderCreate:
    subscription_id: str  # ours, sent as metadata `subgate_subscription_id`
    provider_customer_id: str
    provider_price_id: str
    trial_days: int
    idempotency_key: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderView(Standing):
    """The provider's answer: its subscription as it is right after the request."""

    provider_subscription_id: str


class ProviderActions(Protocol):
    """One provider's subscription API. Raises ProviderDeclined, ProviderRejected or ProviderUnreachable."""

    # False for a provider whose subscriptions are born only at its own checkout (Paddle):
    # a new subscription is then run here until the provider's first event links it.
    creates_subscriptions: bool

    async def create(self, api_key: str, request: ProviderCreate) -> ProviderView: ...

    async def cancel(
        self, api_key: str, provider_subscription_id: str, *, at_period_end: bool, idempotency_key: str
    ) -> ProviderView: ...

    async def pause(
        self, api_key: str, provider_subscription_id: str, *, idempotency_key: str
    ) -> ProviderView:
        """Stop collecting payments until resumed."""
        ...

    async def resume(
        self, api_key: str, provider_subscription_id: str, *, idempotency_key: str
    ) -> ProviderView:
        """Run again: lift a pause and a scheduled cancellation."""
        ...


class ProviderAccounts(Protocol):
    async def api_key(self, merchant_id: str, provider: str) -> str | None:
        """The API key of the merchant's connection for `provider`; None when there is none."""
        ...


class NoProviderAccounts:
    """Every subscription is run by subgate: no merchant has a provider key."""

    async def api_key(self, merchant_id: str, provider: str) -> str | None:  # noqa: ARG002 - the port's signature
        return None


ProviderDirectory = Mapping[str, ProviderActions]
"""The providers subgate can act at, by name."""


def idempotency_key(merchant_id: str, subscription_id: str, operation: str, request_key: str | None) -> str:
    """The key the provider deduplicates a request by.

    From the merchant's Idempotency-Key when given: a retry of the same request gets the
    same key, and the provider answers it without acting twice. Without one, each request
    is new: the key names the subscription and the operation and ends with a unique part,
    so that cancel, resume and cancel again are three requests, not one replayed.
    """
    if request_key is None:
        return f"subgate:{subscription_id}:{operation}:{new_id('req')}"
    digest = hashlib.sha256(f"{merchant_id}\n{request_key}\n{subscription_id}\n{operation}".encode())
    return f"subgate:{subscription_id}:{operation}:{digest.hexdigest()[:32]}"
