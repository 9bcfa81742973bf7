"""`/v1/plans`: what a merchant sells, at what price and interval.

A plan's price never changes: a new price is a new plan (existing subscriptions keep theirs).
"""

from __future__ import annotations

from msgspec import UNSET, UnsetType
from starlette.requests import Request

from domain.merchants.model import Merchant
from domain.notifications.emails import check_header_text
from domain.shared.errors import ValidationFailed
from domain.subscriptions.external.catalog import NewPlan, PlanChange
from domain.subscriptions.ports import PlanFilter
from gateway.api.provider_ids import provider_ids
from gateway.schemas import plans as schema
from gateway.schemas.common import page_of
from gateway.v1 import Resource, route


class PlansApi(Resource):
    tag = "plans"

    @route("POST", "/plans", "Create a plan", status=201)
    async def create(self, _: Request, merchant: Merchant, body: schema.PlanCreate) -> schema.Plan:
        """A provider price id links the plan to that price: the provider's events then find it."""
        new = NewPlan(
            name=check_header_text("name", body.name),
            amount=body.amount,
            currency=check_header_text("currency", body.currency),
            interval=body.interval,
            interval_count=1 if body.interval_count is None else body.interval_count,
            trial_days=0 if body.trial_days is None else body.trial_days,
            provider_price_ids=provider_ids(self._deps, "provider_price_ids", body.provider_price_ids),
        )
        plan = await self._deps.subscriptions.plans.create(merchant.id, new)
        return schema.plan(plan)

    @route("GET", "/plans", "List plans")
    async def list(self, request: Request, merchant: Merchant, query: schema.PlanQuery) -> schema.PlanPage:
        # The query decoder also reads 1/0 and any case as a boolean; only `true` and `false` are.
        if request.query_params.get("archived", "") not in ("", "true", "false"):
            raise ValidationFailed("archived", "must be true or false")
        where = PlanFilter(archived=None if isinstance(query.archived, UnsetType) else query.archived)
        page = await self._deps.subscriptions.plans.list(merchant.id, where, query.page())
        return page_of(page, schema.plan)

    @route("GET", "/plans/{plan_id}", "Get a plan")
    async def get(self, request: Request, merchant: Merchant) -> schema.Plan:
        plan = await self._deps.subscriptions.plans.get(merchant.id, _plan_id(request))
        return schema.plan(plan)

    @route("PATCH", "/plans/{plan_id}", "Rename or archive a plan", found_first="_found")
    async def update(self, request: Request, merchant: Merchant, body: schema.PlanUpdate) -> schema.Plan:
        """What a plan charges cannot change (422): create a new plan instead."""
        fixed = [name for name in schema.FIXED_FIELDS if getattr(body, name) is not UNSET]
        if fixed:
            raise ValidationFailed(fixed[0], "cannot be changed; create a new plan instead")
        change = PlanChange(
            name=None if isinstance(body.name, UnsetType) else check_header_text("name", body.name),
            archived=body.archived,
        )
        plan = await self._deps.subscriptions.plans.update(merchant.id, _plan_id(request), change)
        return schema.plan(plan)

    async def _found(self, request: Request, merchant: Merchant) -> None:
        # Not found before validation: another merchant's id answers 404 whatever the body.
        await self._deps.subscriptions.plans.get(merchant.id, _plan_id(request))


def _plan_id(request: Request) -> str:
    return str(request.path_params["plan_id"])
