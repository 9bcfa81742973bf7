"""Carrying out merchants' subscription requests at Paddle (`ProviderActions` of the domain).

Over httpx (Paddle's SDK has no asynchronous client), with the key of the merchant's
connection as a bearer token; a sandbox key (``pdl_sdbx_...``) talks to Paddle's sandbox.
Nothing is configured globally. Paddle creates subscriptions only at its checkout, so a new
subscription is never created here (`creates_subscriptions`): subgate runs it until the
checkout's events, naming it in `custom_data.subgate_subscription_id`, link it.

    request                     Paddle call
    cancel now                  POST /subscriptions/{id}/cancel  effective_from=immediately
    cancel at the period end    POST /subscriptions/{id}/cancel  effective_from=next_billing_period
    pause                       POST /subscriptions/{id}/pause   effective_from=immediately
    resume                      GET /subscriptions/{id}, then POST .../resume
                                (effective_from=immediately) for a paused one, and PATCH
                                scheduled_change=null for one with a scheduled change

Paddle takes no idempotency key: each of these asks for a state, and asking twice is
answered with that state or Paddle's refusal. Paddle's refusals become the domain's: a
declined payment (`subscription_payment_declined`) `ProviderDeclined` (402); a timeout, a
connection failure, 429, 5xx or a key Paddle refuses (401/403) `ProviderUnreachable` (502);
any other refusal `ProviderRejected` (409), each with Paddle's own message.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, Final

import httpx

from domain.subscriptions.provider import (
    ProviderCreate,
    ProviderDeclined,
    ProviderRejected,
    ProviderUnreachable,
    ProviderView,
)
from integrations.providers.interface import PayloadError
from integrations.providers.paddle import payloads as p
from integrations.providers.paddle.table import CANCEL

LIVE_API: Final = "https://api.paddle.com"
SANDBOX_API: Final = "https://sandbox-api.paddle.com"
SANDBOX_KEY_PREFIX: Final = "pdl_sdbx_"
DEFAULT_TIMEOUT_SECONDS: Final = 10.0
DECLINED_CODE: Final = "subscription_payment_declined"
_REFUSED_KEY: Final = frozenset({HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN})
_MAX_MESSAGE: Final = 300


def api_base(api_key: str) -> str:
    return SANDBOX_API if api_key.startswith(SANDBOX_KEY_PREFIX) else LIVE_API


class PaddleManagement:
    creates_subscriptions = False

    def __init__(
        self,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._timeout = timeout_seconds
        self._transport = transport

    async def create(self, api_key: str, request: ProviderCreate) -> ProviderView:  # noqa: ARG002 - the port's signature
        raise ProviderRejected(
            "Paddle creates subscriptions only at its checkout: open one with "
            f"custom_data.subgate_subscription_id set to {request.subscription_id!r}"
        )

    async def cancel(
        self,
        api_key: str,
        provider_subscription_id: str,
        *,
        at_period_end: bool,
        idempotency_key: str,  # noqa: ARG002 - Paddle takes none (see the module docstring)
    ) -> ProviderView:
        effective = "next_billing_period" if at_period_end else "immediately"
        return await self._act(api_key, provider_subscription_id, "cancel", effective)

    async def pause(
        self,
        api_key: str,
        provider_subscription_id: str,
        *,
        idempotency_key: str,  # noqa: ARG002 - Paddle takes none
    ) -> ProviderView:
        return await self._act(api_key, provider_subscription_id, "pause", "immediately")

    async def resume(
        self,
        api_key: str,
        provider_subscription_id: str,
        *,
        idempotency_key: str,  # noqa: ARG002 - Paddle takes none
    ) -> ProviderView:
        path = f"/subscriptions/{provider_subscription_id}"
        async with self._client(api_key) as client:
            found = await _call(client, "GET", path)
            if found.get("status") == "paused":
                found = await _call(client, "POST", f"{path}/resume", "immediately")
            if isinstance(found.get("scheduled_change"), dict):
                found = await _call(client, "PATCH", path, body={"scheduled_change": None})
        return view_of(found)

    async def _act(
        self, api_key: str, provider_subscription_id: str, action: str, effective: str
    ) -> ProviderView:
        """POST the subscription's `action` (`cancel`, `pause`), in effect `effective` (`immediately`...)."""
        async with self._client(api_key) as client:
            found = await _call(
                client, "POST", f"/subscriptions/{provider_subscription_id}/{action}", effective
            )
        return view_of(found)

    def _client(self, api_key: str) -> httpx.AsyncClient:
        # One client per request: requests are rare, and nothing then outlives its event loop.
        return httpx.AsyncClient(
            base_url=api_base(api_key),
            headers={"authorization": f"Bearer {api_key}", "accept": "application/json"},
            timeout=self._timeout,
            transport=self._transport,
            follow_redirects=False,
        )


async def _call(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    effective_from: str | None = None,
    *,
    body: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Paddle's subscription (`data`) from one call; the domain's refusal otherwise."""
    payload = {"effective_from": effective_from} if effective_from is not None else body
    try:
        response = await client.request(method, path, json=payload)
    except httpx.HTTPError as error:
        raise ProviderUnreachable(
            f"Paddle did not answer ({type(error).__name__}); nothing was changed here"
        ) from None
    answer = _json(response)
    if response.is_success:
        data = answer.get("data")
        if isinstance(data, dict):
            return data
        raise ProviderUnreachable("Paddle answered without a subscription; nothing was changed here")
    raise _refusal(response.status_code, answer)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        parsed = response.json()
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _refusal(
    status: int, answer: dict[str, Any]
) -> ProviderDeclined | ProviderRejected | ProviderUnreachable:
    error = answer.get("error")
    error = error if isinstance(error, dict) else {}
    code = error.get("code")
    detail = error.get("detail") or code or f"HTTP {status}"
    message = " ".join(str(detail).split())[:_MAX_MESSAGE]
    if code == DECLINED_CODE:
        return ProviderDeclined(f"Paddle declined the payment: {message}")
    if status in _REFUSED_KEY:
        return ProviderUnreachable(
            f"Paddle refused the connection's api_key ({message}): set a valid one with "
            "PATCH /v1/connections/{id}"
        )
    if status == HTTPStatus.TOO_MANY_REQUESTS or status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        return ProviderUnreachable(f"Paddle answered {status}: {message}; nothing was changed here")
    return ProviderRejected(f"Paddle refused the request: {message}")


def view_of(sub: dict[str, Any]) -> ProviderView:
    """Paddle's subscription object as the domain's `ProviderView`."""
    try:
        start, end = p.period(sub.get("current_billing_period"), "current_billing_period")
        change = sub.get("scheduled_change")
        cancel_at = (
            p.time(change.get("effective_at"), "scheduled_change.effective_at")
            if isinstance(change, dict) and change.get("action") == CANCEL
            else None
        )
        items = sub.get("items")
        first = items[0] if isinstance(items, list) and items and isinstance(items[0], dict) else {}
        return ProviderView(
            provider_subscription_id=p.text(sub.get("id"), "subscription.id"),
            status=p.status_of(sub),
            current_period_start=start,
            current_period_end=cancel_at or end,
            cancel_at_period_end=cancel_at is not None,
            trial_end=p.trial_end(first),
            canceled_at=p.time(sub.get("canceled_at"), "canceled_at"),
        )
    except PayloadError as error:
        raise ProviderUnreachable(f"Paddle answered with an unreadable subscription: {error}") from None
