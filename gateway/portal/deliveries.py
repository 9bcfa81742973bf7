"""Deliveries (filtered, newest first), one delivery with its message and attempts, dead letters."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.notifications.model import Delivery, DeliveryStatus
from domain.notifications.ports import DeliveryFilter
from domain.shared.errors import ValidationFailed
from domain.shared.events import EventType
from domain.shared.pagination import MAX_LIMIT, PageRequest
from gateway.portal.access import Form, Visit
from gateway.portal.notices import notice_of
from gateway.portal.queries import an_id, choice, newest_first, parse_utc, utc_time
from gateway.portal.render import see_other
from gateway.portal.site import NotificationPages

FILTERS = ("endpoint_id", "status", "type", "subscription_id", "from", "until")


class DeliveryPages(NotificationPages):
    def routes(self) -> list[Route]:
        page, action = self.site.page, self.site.action
        return [
            Route("/deliveries", page(self.listing), methods=["GET"]),
            Route("/deliveries/{delivery_id}", page(self.view), methods=["GET"]),
            Route("/deliveries/{delivery_id}/retry", action(self.retry), methods=["POST"]),
            Route("/dead-letters", page(self.dead_letters), methods=["GET"]),
            Route("/dead-letters/recover", action(self.recover), methods=["POST"]),
            Route("/dead-letters/{dead_letter_id}/replay", action(self.replay), methods=["POST"]),
        ]

    async def _endpoints(self, visit: Visit) -> dict[str, str]:
        page = await self.notifications.list_endpoints(visit.merchant_id, PageRequest(limit=MAX_LIMIT))
        return {endpoint.id: endpoint.url for endpoint in page.items}

    async def listing(self, request: Request, visit: Visit) -> Response:
        subscription = an_id(request, "subscription_id")
        event_type = choice(request, "type", EventType)
        where = DeliveryFilter(
            endpoint_id=an_id(request, "endpoint_id"),
            status=choice(request, "status", DeliveryStatus),
            event_type=None if event_type is None else event_type.value,
            subject_ids=None if subscription is None else (subscription,),
            made_from=utc_time(request, "from"),
            made_before=utc_time(request, "until"),
        )
        page = await self.notifications.list_deliveries(visit.merchant_id, where, newest_first(request))
        kept = {name: request.query_params[name] for name in FILTERS if name in request.query_params}
        return self.site.pages.listing(
            "deliveries.html",
            visit,
            page,
            "/deliveries",
            title="Deliveries",
            query=kept,
            endpoints=await self._endpoints(visit),
            statuses=[s.value for s in DeliveryStatus],
            event_types=[t.value for t in EventType],
            chosen=kept,
        )

    async def view(self, request: Request, visit: Visit) -> Response:
        record = await self.history.delivery(visit.merchant_id, request.path_params["delivery_id"])
        return self.site.pages.render(
            "delivery.html",
            visit,
            title="Delivery",
            section="Deliveries",
            notice=notice_of(request),
            record=record,
            delivery=record.delivery,
            subscription_id=_subscription_of(record.delivery),
            body=None if record.body is None else record.body.decode("utf-8", errors="replace"),
        )

    async def retry(self, request: Request, visit: Visit, _: Form) -> Response:
        delivery_id = request.path_params["delivery_id"]
        due = await self.notifications.retry_delivery(visit.merchant_id, delivery_id)
        return see_other(f"/deliveries/{due.id}", done="retried")

    async def dead_letters(self, request: Request, visit: Visit) -> Response:
        endpoint_id = an_id(request, "endpoint_id")
        if endpoint_id is not None:
            await self.notifications.get_endpoint(visit.merchant_id, endpoint_id)  # another merchant's: 404
        page = await self.history.dead_letters(visit.merchant_id, endpoint_id, newest_first(request))
        return self.site.pages.listing(
            "dead_letters.html",
            visit,
            page,
            "/dead-letters",
            title="Dead letters",
            query={"endpoint_id": endpoint_id},
            notice=notice_of(request),
            endpoints=await self._endpoints(visit),
            endpoint_id=endpoint_id,
        )

    async def replay(self, request: Request, visit: Visit, _: Form) -> Response:
        due = await self.notifications.replay_dead_letter(
            visit.merchant_id, request.path_params["dead_letter_id"]
        )
        return see_other(f"/deliveries/{due.id}", done="replayed")

    async def recover(self, _: Request, visit: Visit, form: Form) -> Response:
        """Every open dead letter of one endpoint made since a time, due again now."""
        endpoint_id = form.get("endpoint_id", [""])[0].strip()
        if not endpoint_id:
            raise ValidationFailed("endpoint_id", "choose an endpoint")
        since = parse_utc(form.get("since", [""])[0].strip() or None, "since")
        summary = await self.notifications.replay_dead_letters(visit.merchant_id, None, since, endpoint_id)
        return see_other(
            "/dead-letters", done="recovered", replayed=len(summary.replayed), skipped=len(summary.skipped)
        )


def _subscription_of(delivery: Delivery) -> str | None:
    """The subscription a delivery's message is about: every type's subject but `endpoint.*`'s
    (ids of any release: `subsg_...` now, `sub_...` before)."""
    if delivery.event_type.startswith("endpoint."):
        return None
    return delivery.subject_id
