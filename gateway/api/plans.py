"""`/v1/plans`: what a merchant sells, at what price and interval; read, parsed and shown here."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.merchants.model import Merchant
from domain.notifications.emails import check_header_text
from domain.shared.clock import public_time
from domain.shared.errors import ValidationFailed
from domain.subscriptions.catalog import NewPlan, PlanChange
from domain.subscriptions.model import Interval, Plan
from domain.subscriptions.ports import PlanFilter
from gateway.auth import v1_route
from gateway.body import json_object
from gateway.deps import GatewayDeps
from gateway.responses import json_response
from gateway.serialize import View, page_view
from gateway.validation import (
    optional_bool,
    optional_int,
    page_request,
    query_bool,
    required_int,
    required_str,
    str_map,
)

# A plan's price never changes: a new price is a new plan (existing subscriptions keep theirs).
_FIXED_FIELDS = ("amount", "currency", "interval", "interval_count", "trial_days", "provider_price_ids")


class PlansApi:
    def __init__(self, deps: GatewayDeps) -> None:
        self._deps = deps

    def routes(self) -> list[Route]:
        merchants = self._deps.merchants
        return [
            v1_route(merchants, "/plans", {"POST": self.create, "GET": self.list}),
            v1_route(merchants, "/plans/{plan_id}", {"GET": self.get, "PATCH": self.update}),
        ]

    async def create(self, request: Request, merchant: Merchant) -> Response:
        data = await json_object(request, self._deps.config.max_body_bytes)
        plan = await self._deps.subscriptions.plans.create(merchant.id, self._new_plan(data))
        return json_response(plan_view(plan), status_code=201)

    async def list(self, request: Request, merchant: Merchant) -> Response:
        where = PlanFilter(archived=query_bool(request, "archived"))
        page = await self._deps.subscriptions.plans.list(merchant.id, where, page_request(request))
        return json_response(page_view(page, plan_view))

    async def get(self, request: Request, merchant: Merchant) -> Response:
        plan = await self._deps.subscriptions.plans.get(merchant.id, _plan_id(request))
        return json_response(plan_view(plan))

    async def update(self, request: Request, merchant: Merchant) -> Response:
        """PATCH `name` and/or `archived`; an archived plan takes no new subscriptions."""
        plan_id = _plan_id(request)
        # Not found before validation: another merchant's id answers 404 whatever the body.
        await self._deps.subscriptions.plans.get(merchant.id, plan_id)
        data = await json_object(request, self._deps.config.max_body_bytes)
        fixed = [name for name in _FIXED_FIELDS if name in data]
        if fixed:
            raise ValidationFailed(fixed[0], "cannot be changed; create a new plan instead")
        change = PlanChange(
            name=_name(data) if "name" in data else None, archived=optional_bool(data, "archived")
        )
        plan = await self._deps.subscriptions.plans.update(merchant.id, plan_id, change)
        return json_response(plan_view(plan))

    def _new_plan(self, data: dict[str, Any]) -> NewPlan:
        return NewPlan(
            name=_name(data),
            amount=required_int(data, "amount"),
            currency=check_header_text("currency", required_str(data, "currency")),
            interval=_interval(data),
            interval_count=_int_or(data, "interval_count", 1),
            trial_days=_int_or(data, "trial_days", 0),
            provider_price_ids=provider_ids(self._deps, data, "provider_price_ids"),
        )


def plan_view(plan: Plan) -> View:
    return {
        "id": plan.id,
        "name": plan.name,
        "amount": plan.amount,
        "currency": plan.currency,
        "interval": plan.interval.value,
        "interval_count": plan.interval_count,
        "trial_days": plan.trial_days,
        "provider_price_ids": dict(plan.provider_price_ids),
        "archived": plan.archived,
        "created_at": public_time(plan.created_at),
    }


def provider_ids(deps: GatewayDeps, data: dict[str, Any], name: str) -> dict[str, str]:
    """`{provider: id}` for providers subgate implements; no value may hold a line break."""
    ids = str_map(data, name)
    for provider, external_id in ids.items():
        if provider not in deps.providers:
            implemented = ", ".join(sorted(deps.providers))
            raise ValidationFailed(f"{name}.{provider}", f"not a provider subgate implements ({implemented})")
        check_header_text(f"{name}.{provider}", external_id)
    return ids


def _plan_id(request: Request) -> str:
    return str(request.path_params["plan_id"])


def _name(data: dict[str, Any]) -> str:
    return check_header_text("name", required_str(data, "name"))


def _int_or(data: dict[str, Any], name: str, default: int) -> int:
    value = optional_int(data, name)
    return default if value is None else value


def _interval(data: dict[str, Any]) -> Interval:
    raw = required_str(data, "interval")
    try:
        return Interval(raw)
    except ValueError:
        allowed = ", ".join(i.value for i in Interval)
        raise ValidationFailed("interval", f"must be one of {allowed}") from None
