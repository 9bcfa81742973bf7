"""Reading objects from Stripe's API with the stripe SDK's async client (over HTTPX).

Used only when an event lacks what it needs: a thin event (which names its object
without carrying it), or an invoice of a subscription no event has shown us yet. The
key is the connection's own `api_key`; nothing is configured globally.

Errors are sorted for the worker: a timeout, a connection failure, 429 or a 5xx is
`ProviderUnavailable` (the event stays `accepted` and is tried again later); any other
refusal (a bad key, an object that does not exist) is `ProviderRefused`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any, Final

import stripe

from integrations.providers.interface import ProviderRefused, ProviderUnavailable

DEFAULT_TIMEOUT_SECONDS: Final = 10.0
KINDS: Final = ("subscription", "invoice", "checkout.session")


class StripeApi:
    def __init__(self, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self._timeout = timeout_seconds

    async def retrieve(self, api_key: str, kind: str, object_id: str) -> dict[str, Any]:
        """The object of `kind` (one of KINDS) as Stripe shows it now, as plain JSON values."""
        if kind not in KINDS:
            raise ProviderRefused(f"objects of type {kind!r} are not read from Stripe")
        # One HTTP client per fetch: fetches are rare, and nothing then outlives its event loop.
        http = stripe.HTTPXClient(timeout=self._timeout)
        try:
            client = stripe.StripeClient(api_key, http_client=http, max_network_retries=0)
            found = await _retriever(client, kind)(object_id)
            return found.to_dict()
        except stripe.APIConnectionError as error:
            raise ProviderUnavailable(f"Stripe did not answer: {error_message(error)}") from None
        except stripe.StripeError as error:
            status = error.http_status
            if status is not None and (
                status == HTTPStatus.TOO_MANY_REQUESTS or status >= HTTPStatus.INTERNAL_SERVER_ERROR
            ):
                raise ProviderUnavailable(f"Stripe answered {status}: {error_message(error)}") from None
            refusal = f"Stripe refused to show {kind} {object_id}: {error_message(error)}"
            raise ProviderRefused(refusal) from None
        finally:
            await http.close_async()  # type: ignore[no-untyped-call]  # the SDK leaves this one method unannotated


def _retriever(client: stripe.StripeClient, kind: str) -> Callable[[str], Awaitable[stripe.StripeObject]]:
    if kind == "subscription":
        return client.v1.subscriptions.retrieve_async
    if kind == "invoice":
        return client.v1.invoices.retrieve_async
    return client.v1.checkout.sessions.retrieve_async


def error_message(error: stripe.StripeError) -> str:
    """Stripe's message for people (its first line), or the error's class when it has none."""
    message = error.user_message or str(error)
    return message.strip().splitlines()[0] if message.strip() else type(error).__name__
