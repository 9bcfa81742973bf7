"""Subscriptions, customers and inbound events: read-only pages, each with its notification history."""

from __future__ import annotations

from typing import Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.inbound.model import InboundStatus
from domain.inbound.ports import InboundFilter
from domain.notifications.ports import DeliveryFilter
from domain.shared.pagination import MAX_LIMIT, PageRequest
from domain.subscriptions.ports import SubscriptionFilter
from domain.subscriptions.state_machine import SubscriptionStatus
from gateway.portal.access import Form, Visit
from gateway.portal.notices import notice_of
from gateway.portal.queries import an_id, choice, newest_first, status_filter
from gateway.portal.render import see_other
from gateway.portal.site import Site

# Notification history shown on a subscription's or customer's page (the Deliveries page has it all).
HISTORY: Final = 50


class SubscriptionPages:
    def __init__(self, site: Site) -> None:
        self.site = site
        self.deps = site.deps

    def routes(self) -> list[Route]:
        page, action = self.site.page, self.site.action
        return [
            Route("/subscriptions", page(self.subscriptions), methods=["GET"]),
            Route("/subscriptions/{subscription_id}", page(self.subscription), methods=["GET"]),
            Route("/customers", page(self.customers), methods=["GET"]),
            Route("/customers/{customer_id}", page(self.customer), methods=["GET"]),
            Route("/inbound-events", page(self.inbound_events), methods=["GET"]),
            Route("/inbound-events/{event_id}", page(self.inbound_event), methods=["GET"]),
            Route("/inbound-events/{event_id}/reprocess", action(self.reprocess), methods=["POST"]),
        ]

    async def _history(self, visit: Visit, subject_ids: tuple[str, ...]) -> object:
        where = DeliveryFilter(subject_ids=subject_ids)
        page = PageRequest(limit=HISTORY, newest_first=True)
        return (await self.deps.notifications.list_deliveries(visit.merchant_id, where, page)).items

    async def subscriptions(self, request: Request, visit: Visit) -> Response:
        status = choice(request, "status", SubscriptionStatus)
        page = await self.deps.subscriptions.list(
            visit.merchant_id, SubscriptionFilter(status=status), newest_first(request)
        )
        return self.site.pages.listing(
            "subscriptions.html",
            visit,
            page,
            "/subscriptions",
            title="Subscriptions",
            query={"status": status},
            **status_filter(SubscriptionStatus, status),
        )

    async def subscription(self, request: Request, visit: Visit) -> Response:
        found = await self.deps.subscriptions.get(visit.merchant_id, request.path_params["subscription_id"])
        return self.site.pages.render(
            "subscription.html",
            visit,
            title="Subscription",
            section="Subscriptions",
            subscription=found,
            deliveries=await self._history(visit, (found.id,)),
        )

    async def customers(self, request: Request, visit: Visit) -> Response:
        page = await self.deps.subscriptions.customers.list(visit.merchant_id, newest_first(request))
        return self.site.pages.listing("customers.html", visit, page, "/customers", title="Customers")

    async def customer(self, request: Request, visit: Visit) -> Response:
        found = await self.deps.subscriptions.customers.get(
            visit.merchant_id, request.path_params["customer_id"]
        )
        theirs = await self.deps.subscriptions.list(
            visit.merchant_id,
            SubscriptionFilter(customer_id=found.id),
            PageRequest(limit=MAX_LIMIT, newest_first=True),
        )
        return self.site.pages.render(
            "customer.html",
            visit,
            title="Customer",
            section="Customers",
            customer=found,
            subscriptions=theirs.items,
            deliveries=await self._history(visit, tuple(s.id for s in theirs.items)),
        )

    async def inbound_events(self, request: Request, visit: Visit) -> Response:
        status = choice(request, "status", InboundStatus)
        where = InboundFilter(connection_id=an_id(request, "connection_id"), status=status)
        page = await self.deps.inbound.list(visit.merchant_id, where, newest_first(request))
        return self.site.pages.listing(
            "inbound_events.html",
            visit,
            page,
            "/inbound-events",
            title="Inbound events",
            query={"status": status, "connection_id": where.connection_id},
            **status_filter(InboundStatus, status),
        )

    async def inbound_event(self, request: Request, visit: Visit) -> Response:
        event = await self.deps.inbound.get(visit.merchant_id, request.path_params["event_id"])
        return self.site.pages.render(
            "inbound_event.html",
            visit,
            title="Inbound event",
            section="Inbound events",
            notice=notice_of(request),
            event=event,
            body=event.body.decode("utf-8", errors="replace"),
        )

    async def reprocess(self, request: Request, visit: Visit, _: Form) -> Response:
        event = await self.deps.inbound.reprocess(visit.merchant_id, request.path_params["event_id"])
        return see_other(f"/inbound-events/{event.id}", done="reprocessed")
