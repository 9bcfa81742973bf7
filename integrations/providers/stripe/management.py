"""Carrying out merchants' subscription requests at Stripe (`ProviderActions` of the domain).

With the stripe SDK's async client over HTTPX and the key of the merchant's connection;
nothing is configured globally. Every write carries an idempotency key, so the same request
sent again (a retry after a timeout) is answered by Stripe without acting twice, and names
our subscription in its metadata (`subgate_subscription_id`), so the webhooks that follow
link back to it.

    request                     Stripe call
    create                      POST /v1/subscriptions (trial_period_days when there is a trial)
    cancel now                  DELETE /v1/subscriptions/{id}
    cancel at the period end    POST /v1/subscriptions/{id} cancel_at_period_end=true
    pause                       POST /v1/subscriptions/{id} pause_collection[behavior]=void
    resume                      POST /v1/subscriptions/{id} pause_collection="" and
                                cancel_at_period_end=false; a subscription Stripe itself
                                paused (status `paused`) goes through POST .../resume first

Stripe's refusals become the domain's: a declined card `ProviderDeclined` (402); a timeout,
a connection failure, 429, 5xx or a key Stripe refuses `ProviderUnreachable` (502); any
other refusal `ProviderRejected` (409), each with Stripe's own message.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any, Final

import stripe
from stripe.params import SubscriptionCreateParams

from domain.subscriptions.provider import (
    ProviderCreate,
    ProviderDeclined,
    ProviderRejected,
    ProviderUnreachable,
    ProviderView,
)
from integrations.providers import readers
from integrations.providers.interface import PayloadError
from integrations.providers.stripe import payloads as p
from integrations.providers.stripe.api import DEFAULT_TIMEOUT_SECONDS, error_message

METADATA_KEY: Final = "subgate_subscription_id"
_REFUSED_KEY: Final = frozenset({HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN})

Call = Callable[[stripe.StripeClient, stripe.RequestOptions], Awaitable[stripe.Subscription]]


class StripeManagement:
    creates_subscriptions = True

    def __init__(self, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self._timeout = timeout_seconds

    async def create(self, api_key: str, request: ProviderCreate) -> ProviderView:
        params: SubscriptionCreateParams = {
            "customer": request.provider_customer_id,
            "items": [{"price": request.provider_price_id}],
            "metadata": {METADATA_KEY: request.subscription_id},
        }
        if request.trial_days > 0:
            params["trial_period_days"] = request.trial_days

        async def call(client: stripe.StripeClient, options: stripe.RequestOptions) -> stripe.Subscription:
            return await client.v1.subscriptions.create_async(params, options)

        return await self._run(api_key, call, request.idempotency_key)

    async def cancel(
        self, api_key: str, provider_subscription_id: str, *, at_period_end: bool, idempotency_key: str
    ) -> ProviderView:
        async def call(client: stripe.StripeClient, options: stripe.RequestOptions) -> stripe.Subscription:
            subscriptions = client.v1.subscriptions
            if at_period_end:
                return await subscriptions.update_async(
                    provider_subscription_id, {"cancel_at_period_end": True}, options
                )
            return await subscriptions.cancel_async(provider_subscription_id, None, options)

        return await self._run(api_key, call, idempotency_key)

    async def pause(
        self, api_key: str, provider_subscription_id: str, *, idempotency_key: str
    ) -> ProviderView:
        async def call(client: stripe.StripeClient, options: stripe.RequestOptions) -> stripe.Subscription:
            return await client.v1.subscriptions.update_async(
                provider_subscription_id, {"pause_collection": {"behavior": "void"}}, options
            )

        return await self._run(api_key, call, idempotency_key)

    async def resume(
        self, api_key: str, provider_subscription_id: str, *, idempotency_key: str
    ) -> ProviderView:
        async def call(client: stripe.StripeClient, options: stripe.RequestOptions) -> stripe.Subscription:
            subscriptions = client.v1.subscriptions
            current = await subscriptions.retrieve_async(provider_subscription_id)
            if current.status == "paused":
                resume_options: stripe.RequestOptions = {
                    "idempotency_key": f"{idempotency_key}:resume",
                }
                await subscriptions.resume_async(provider_subscription_id, None, resume_options)
            return await subscriptions.update_async(
                provider_subscription_id, {"pause_collection": "", "cancel_at_period_end": False}, options
            )

        return await self._run(api_key, call, idempotency_key)

    async def _run(self, api_key: str, call: Call, idempotency_key: str) -> ProviderView:
        # One HTTP client per request: requests are rare, and nothing outlives its event loop.
        http = stripe.HTTPXClient(timeout=self._timeout)
        try:
            client = stripe.StripeClient(api_key, http_client=http, max_network_retries=0)
            found = await call(client, {"idempotency_key": idempotency_key})
            return view_of(found.to_dict())
        except stripe.CardError as error:
            raise ProviderDeclined(f"Stripe declined the payment: {error_message(error)}") from None
        except stripe.APIConnectionError as error:
            raise ProviderUnreachable(
                f"Stripe did not answer ({error_message(error)}); nothing was changed here"
            ) from None
        except stripe.StripeError as error:
            raise _refusal(error) from None
        finally:
            await http.close_async()  # type: ignore[no-untyped-call]  # the SDK leaves this one method unannotated


def _refusal(error: stripe.StripeError) -> ProviderUnreachable | ProviderRejected:
    status = error.http_status
    message = error_message(error)
    if status in _REFUSED_KEY:
        return ProviderUnreachable(
            f"Stripe refused the connection's api_key ({message}): set a valid one with "
            "PATCH /v1/connections/{id}"
        )
    if status is None or status == HTTPStatus.TOO_MANY_REQUESTS or status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        return ProviderUnreachable(f"Stripe answered {status}: {message}; nothing was changed here")
    return ProviderRejected(f"Stripe refused the request: {message}")


def view_of(sub: dict[str, Any]) -> ProviderView:
    """Stripe's subscription object as the domain's `ProviderView`."""
    try:
        start, end = p.billing_period(sub, p.first_item(sub))
        return ProviderView(
            provider_subscription_id=readers.text(sub.get("id"), "subscription.id"),
            status=p.status_of(sub),
            current_period_start=start,
            current_period_end=end,
            cancel_at_period_end=sub.get("cancel_at_period_end") is True,
            trial_end=p.when(sub.get("trial_end"), "trial_end"),
            canceled_at=p.when(sub.get("canceled_at"), "canceled_at"),
        )
    except PayloadError as error:
        raise ProviderUnreachable(f"Stripe answered with an unreadable subscription: {error}") from None
