"""Every portal page, mounted under `/portal` (see `gateway.portal.site`)."""

from __future__ import annotations

from starlette.routing import Mount

from gateway.deps import GatewayDeps, PortalDeps
from gateway.portal.catalogue import CataloguePages
from gateway.portal.deliveries import DeliveryPages
from gateway.portal.endpoints import EndpointPages
from gateway.portal.site import Site
from gateway.portal.subscriptions import SubscriptionPages


def portal_mount(deps: GatewayDeps, portal: PortalDeps) -> Mount:
    site = Site(deps, portal)
    routes = [
        *EndpointPages(site).routes(),
        *CataloguePages(site).routes(),
        *DeliveryPages(site).routes(),
        *SubscriptionPages(site).routes(),
    ]
    return site.mount(routes)
