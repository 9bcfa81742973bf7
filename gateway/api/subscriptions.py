"""`/v1/subscriptions`: read, create, cancel, pause and resume; requests parsed here.

Where a request is carried out (here, or at the provider that runs the subscription) is
the domain's decision (`domain.subscriptions.management`). A provider's refusal is answered
with the provider's message: 402 for a declined payment, 409 for a refused request, 502 when
the provider could not be reached (nothing was stored; retrying with the same
Idempotency-Key asks the provider again with the same key).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.merchants.model import Merchant
from domain.subscriptions.management import NewSubscription
from domain.subscriptions.model import subscription_view
from domain.subscriptions.ports import SubscriptionFilter
from domain.subscriptions.provider import ProviderDeclined, ProviderUnreachable
from domain.subscriptions.state_machine import SubscriptionStatus
from gateway.auth import v1_route
from gateway.body import parse_json_object, read_limited
from gateway.deps import GatewayDeps
from gateway.errors import ApiError
from gateway.idempotency import HEADER as IDEMPOTENCY_KEY
from gateway.responses import json_response
from gateway.serialize import page_view
from gateway.validation import optional_bool, optional_int, page_request, query_enum, query_str, required_str

PAYMENT_REQUIRED = 402
BAD_GATEWAY = 502


@asynccontextmanager
async def provider_answers() -> AsyncIterator[None]:
    """A provider's refusal as this API's error; its 409s are domain conflicts already."""
    try:
        yield
    except ProviderDeclined as declined:
        raise ApiError(PAYMENT_REQUIRED, declined.kind, declined.message) from None
    except ProviderUnreachable as unreachable:
        raise ApiError(BAD_GATEWAY, unreachable.kind, unreachable.message) from None


class SubscriptionsApi:
    def __init__(self, deps: GatewayDeps) -> None:
        self._deps = deps

    def routes(self) -> list[Route]:
        merchants = self._deps.merchants
        by_id = "/subscriptions/{subscription_id}"
        return [
            v1_route(merchants, "/subscriptions", {"POST": self.create, "GET": self.list}),
            v1_route(merchants, by_id, {"GET": self.get}),
            v1_route(merchants, f"{by_id}/cancel", {"POST": self.cancel}),
            v1_route(merchants, f"{by_id}/resume", {"POST": self.resume}),
            v1_route(merchants, f"{by_id}/pause", {"POST": self.pause}),
        ]

    async def list(self, request: Request, merchant: Merchant) -> Response:
        where = SubscriptionFilter(
            status=query_enum(request, "status", SubscriptionStatus),
            customer_id=query_str(request, "customer_id"),
            provider_subscription_id=query_str(request, "provider_subscription_id"),
        )
        page = await self._deps.subscriptions.list(merchant.id, where, page_request(request))
        return json_response(page_view(page, subscription_view))

    async def get(self, request: Request, merchant: Merchant) -> Response:
        subscription = await self._deps.subscriptions.get(merchant.id, _subscription_id(request))
        return json_response(subscription_view(subscription))

    async def create(self, request: Request, merchant: Merchant) -> Response:
        """`{customer_id, plan_id, trial_days?}`: trialing when there is a trial, else pending."""
        data = await self._body(request)
        new = NewSubscription(
            customer_id=required_str(data, "customer_id"),
            plan_id=required_str(data, "plan_id"),
            trial_days=optional_int(data, "trial_days"),
            request_key=_request_key(request),
        )
        async with provider_answers():
            subscription = await self._deps.subscriptions.create(merchant.id, new)
        return json_response(subscription_view(subscription), status_code=201)

    async def cancel(self, request: Request, merchant: Merchant) -> Response:
        """`{at_period_end}`: at the end of the current period, or now (the default)."""
        subscription_id = _subscription_id(request)
        # Not found before validation: another merchant's id answers 404 whatever the body.
        await self._deps.subscriptions.get(merchant.id, subscription_id)
        at_period_end = optional_bool(await self._body(request), "at_period_end") or False
        async with provider_answers():
            subscription = await self._deps.subscriptions.cancel(
                merchant.id, subscription_id, at_period_end=at_period_end, request_key=_request_key(request)
            )
        return json_response(subscription_view(subscription))

    async def resume(self, request: Request, merchant: Merchant) -> Response:
        """Undo a scheduled cancel, or resume a paused subscription."""
        async with provider_answers():
            subscription = await self._deps.subscriptions.resume(
                merchant.id, _subscription_id(request), request_key=_request_key(request)
            )
        return json_response(subscription_view(subscription))

    async def pause(self, request: Request, merchant: Merchant) -> Response:
        async with provider_answers():
            subscription = await self._deps.subscriptions.pause(
                merchant.id, _subscription_id(request), request_key=_request_key(request)
            )
        return json_response(subscription_view(subscription))

    async def _body(self, request: Request) -> dict[str, Any]:
        """The JSON object sent, `{}` when nothing was sent."""
        raw = await read_limited(request, self._deps.config.max_body_bytes)
        return parse_json_object(raw) if raw.strip() else {}


def _subscription_id(request: Request) -> str:
    return str(request.path_params["subscription_id"])


def _request_key(request: Request) -> str | None:
    return request.headers.get(IDEMPOTENCY_KEY)
