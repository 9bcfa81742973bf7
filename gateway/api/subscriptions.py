"""`/v1/subscriptions`: read, create, cancel, pause and resume.

Where a request is carried out (here, or at the provider that runs the subscription) is
the domain's decision (`domain.subscriptions.external.management`). A provider's refusal is answered
with the provider's message (see `gateway.errors`): 402 for a declined payment, 409 for a
refused request, 502 when the provider could not be reached (nothing was stored; retrying
with the same Idempotency-Key asks the provider again with the same key).
"""

from __future__ import annotations

from typing import Final

from starlette.requests import Request

from domain.merchants.model import Merchant
from domain.subscriptions.external.management import NewSubscription
from domain.subscriptions.ports import SubscriptionFilter
from gateway.idempotency import HEADER as IDEMPOTENCY_KEY
from gateway.schemas import subscriptions as schema
from gateway.schemas.common import page_of
from gateway.v1 import AT_PROVIDER, Resource, route

BY_ID: Final = "/subscriptions/{subscription_id}"


class SubscriptionsApi(Resource):
    tag = "subscriptions"

    @route("POST", "/subscriptions", "Create a subscription", status=201, errors={404, *AT_PROVIDER})
    async def create(
        self, request: Request, merchant: Merchant, body: schema.SubscriptionCreate
    ) -> schema.Subscription:
        """Trialing when there is a trial (the plan's unless `trial_days` is given), else pending."""
        new = NewSubscription(
            customer_id=body.customer_id,
            plan_id=body.plan_id,
            trial_days=body.trial_days,
            request_key=_request_key(request),
        )
        subscription = await self._deps.subscriptions.create(merchant.id, new)
        return schema.subscription(subscription)

    @route("GET", "/subscriptions", "List subscriptions")
    async def list(
        self, _: Request, merchant: Merchant, query: schema.SubscriptionQuery
    ) -> schema.SubscriptionPage:
        where = SubscriptionFilter(
            status=query.status,
            customer_id=query.customer_id,
            provider_subscription_id=query.provider_subscription_id,
        )
        page = await self._deps.subscriptions.list(merchant.id, where, query.page())
        return page_of(page, schema.subscription)

    @route("GET", BY_ID, "Get a subscription")
    async def get(self, request: Request, merchant: Merchant) -> schema.Subscription:
        subscription = await self._deps.subscriptions.get(merchant.id, _subscription_id(request))
        return schema.subscription(subscription)

    @route(
        "POST",
        BY_ID + "/cancel",
        "Cancel a subscription",
        errors=AT_PROVIDER,
        optional_body=True,
        found_first="_found",
    )
    async def cancel(
        self, request: Request, merchant: Merchant, body: schema.SubscriptionCancel
    ) -> schema.Subscription:
        """At the end of the current period, or now (the default); the body may be left out."""
        subscription = await self._deps.subscriptions.cancel(
            merchant.id,
            _subscription_id(request),
            at_period_end=bool(body.at_period_end),
            request_key=_request_key(request),
        )
        return schema.subscription(subscription)

    @route("POST", BY_ID + "/resume", "Resume a subscription", errors=AT_PROVIDER)
    async def resume(self, request: Request, merchant: Merchant) -> schema.Subscription:
        """Undo a scheduled cancel, or resume a paused subscription."""
        subscription = await self._deps.subscriptions.resume(
            merchant.id, _subscription_id(request), request_key=_request_key(request)
        )
        return schema.subscription(subscription)

    @route("POST", BY_ID + "/pause", "Pause a subscription", errors=AT_PROVIDER)
    async def pause(self, request: Request, merchant: Merchant) -> schema.Subscription:
        """Stop collecting payments until resumed."""
        subscription = await self._deps.subscriptions.pause(
            merchant.id, _subscription_id(request), request_key=_request_key(request)
        )
        return schema.subscription(subscription)

    async def _found(self, request: Request, merchant: Merchant) -> None:
        # Not found before validation: another merchant's id answers 404 whatever the body.
        await self._deps.subscriptions.get(merchant.id, _subscription_id(request))


def _subscription_id(request: Request) -> str:
    return str(request.path_params["subscription_id"])


def _request_key(request: Request) -> str | None:
    return request.headers.get(IDEMPOTENCY_KEY)
