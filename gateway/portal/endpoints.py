"""Overview and endpoints: health at a glance; add, change, disable, delete, rotate, reveal, test."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.notifications.external import KEEP, EndpointChanges, NewEndpoint, validated_url
from domain.notifications.model import Endpoint
from domain.notifications.stats import EndpointHealth
from domain.shared.errors import ValidationFailed
from domain.shared.events import EventType
from domain.shared.pagination import MAX_LIMIT, PageRequest
from gateway.portal.access import Form, Visit
from gateway.portal.chart import Chart, day_chart
from gateway.portal.notices import notice_of
from gateway.portal.render import see_other
from gateway.portal.site import NotificationPages

MAX_DESCRIPTION: Final = 1000


@dataclass(frozen=True, slots=True)
class EndpointCard:
    endpoint: Endpoint
    health: EndpointHealth
    chart: Chart
    dead_letters: int


def _one(form: Form, name: str) -> str:
    return form.get(name, [""])[0].strip()


def _description(form: Form) -> str | None:
    text = _one(form, "description")
    if len(text) > MAX_DESCRIPTION:
        raise ValidationFailed("description", f"at most {MAX_DESCRIPTION} characters")
    return text or None


def _event_types(form: Form) -> list[str]:
    known = {t.value for t in EventType}
    chosen = form.get("event_types", [])
    unknown = [t for t in chosen if t not in known]
    if unknown:
        raise ValidationFailed("event_types", "choose types from the catalogue")
    return chosen


class EndpointPages(NotificationPages):
    def routes(self) -> list[Route]:
        page, action = self.site.page, self.site.action
        one = "/endpoints/{endpoint_id}"
        return [
            Route("/", page(self.overview), methods=["GET"]),
            Route("/endpoints", page(self.listing), methods=["GET"]),
            Route("/endpoints", action(self.add), methods=["POST"]),
            Route(one, page(self.view), methods=["GET"]),
            Route(one, action(self.edit), methods=["POST"]),
            Route(one + "/enable", action(self.enable), methods=["POST"]),
            Route(one + "/disable", action(self.disable), methods=["POST"]),
            Route(one + "/delete", action(self.delete), methods=["POST"]),
            Route(one + "/rotate-secret", action(self.rotate), methods=["POST"]),
            Route(one + "/reveal-secret", action(self.reveal), methods=["POST"]),
            Route(one + "/test", action(self.test), methods=["POST"]),
        ]

    async def _endpoints(self, visit: Visit) -> list[Endpoint]:
        page = await self.notifications.list_endpoints(visit.merchant_id, PageRequest(limit=MAX_LIMIT))
        return list(page.items)

    async def overview(self, request: Request, visit: Visit) -> Response:
        endpoints = await self._endpoints(visit)
        health = await self.history.health(visit.merchant_id, endpoints)
        cards = [
            EndpointCard(
                endpoint=endpoint,
                health=one,
                chart=day_chart(one),
                dead_letters=await self.history.open_dead_letters(visit.merchant_id, endpoint.id),
            )
            for endpoint, one in zip(endpoints, health, strict=True)
        ]
        return self.site.pages.render(
            "overview.html",
            visit,
            title="Overview",
            section="Overview",
            notice=notice_of(request),
            cards=cards,
            dead_letters=await self.history.open_dead_letters(visit.merchant_id),
        )

    async def listing(self, request: Request, visit: Visit, *, status: int = 200, **form: object) -> Response:
        return self.site.pages.render(
            "endpoints.html",
            visit,
            status,
            title="Endpoints",
            section="Endpoints",
            notice=notice_of(request),
            endpoints=await self._endpoints(visit),
            event_types=[t.value for t in EventType],
            error=form.get("error"),
            entered=form.get("entered", {}),
        )

    async def add(self, request: Request, visit: Visit, form: Form) -> Response:
        entered = {
            "url": _one(form, "url"),
            "description": _one(form, "description"),
            "types": form.get("event_types", []),
        }
        try:
            new = NewEndpoint(
                url=await self.site.deps.check_target(validated_url(_one(form, "url"))),
                event_types=_event_types(form),
                description=_description(form),
            )
        except ValidationFailed as invalid:
            return await self.listing(request, visit, status=422, error=invalid.message, entered=entered)
        endpoint = await self.notifications.create_endpoint(visit.merchant_id, new)
        return see_other(f"/endpoints/{endpoint.id}", done="added")

    async def view(self, request: Request, visit: Visit, *, status: int = 200, **extra: object) -> Response:
        endpoint = await self.notifications.get_endpoint(
            visit.merchant_id, request.path_params["endpoint_id"]
        )
        [health] = await self.history.health(visit.merchant_id, [endpoint])
        return self.site.pages.render(
            "endpoint.html",
            visit,
            status,
            title="Endpoint",
            section="Endpoints",
            notice=notice_of(request),
            endpoint=endpoint,
            health=health,
            chart=day_chart(health),
            dead_letters=await self.history.open_dead_letters(visit.merchant_id, endpoint.id),
            event_types=[t.value for t in EventType],
            now=self.site.deps.clock(),
            secrets=extra.get("secrets"),
            error=extra.get("error"),
        )

    async def edit(self, request: Request, visit: Visit, form: Form) -> Response:
        endpoint_id = request.path_params["endpoint_id"]
        await self.notifications.get_endpoint(visit.merchant_id, endpoint_id)  # another merchant's: 404
        try:
            changes = EndpointChanges(
                url=await self.site.deps.check_target(validated_url(_one(form, "url"))),
                event_types=_event_types(form),
                description=_description(form),
            )
        except ValidationFailed as invalid:
            return await self.view(request, visit, status=422, error=invalid.message)
        await self.notifications.update_endpoint(visit.merchant_id, endpoint_id, changes)
        return see_other(f"/endpoints/{endpoint_id}", done="saved")

    async def enable(self, request: Request, visit: Visit, _: Form) -> Response:
        return await self._switch(request, visit, enabled=True)

    async def disable(self, request: Request, visit: Visit, _: Form) -> Response:
        return await self._switch(request, visit, enabled=False)

    async def _switch(self, request: Request, visit: Visit, *, enabled: bool) -> Response:
        endpoint_id = request.path_params["endpoint_id"]
        changes = EndpointChanges(url=KEEP, enabled=enabled)
        await self.notifications.update_endpoint(visit.merchant_id, endpoint_id, changes)
        return see_other(f"/endpoints/{endpoint_id}", done="enabled" if enabled else "disabled")

    async def delete(self, request: Request, visit: Visit, _: Form) -> Response:
        await self.notifications.delete_endpoint(visit.merchant_id, request.path_params["endpoint_id"])
        return see_other("/endpoints", done="deleted")

    async def rotate(self, request: Request, visit: Visit, _: Form) -> Response:
        endpoint_id = request.path_params["endpoint_id"]
        await self.notifications.rotate_secret(visit.merchant_id, endpoint_id)
        return see_other(f"/endpoints/{endpoint_id}", done="rotated")

    async def reveal(self, request: Request, visit: Visit, _: Form) -> Response:
        """The live secrets, in this answer only (never cached: every portal page is no-store)."""
        endpoint = await self.notifications.get_endpoint(
            visit.merchant_id, request.path_params["endpoint_id"]
        )
        now = self.site.deps.clock()
        live = [s for s in endpoint.secrets if s.expires_at is None or s.expires_at > now]
        return await self.view(request, visit, secrets=live)

    async def test(self, request: Request, visit: Visit, _: Form) -> Response:
        made = await self.notifications.send_test_event(visit.merchant_id, request.path_params["endpoint_id"])
        return see_other(f"/deliveries/{made.id}", done="test_sent")
