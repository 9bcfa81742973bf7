"""The HTTP application: inbound webhooks, the `/v1` REST API and health probes.

Everything is wired through Starlette's constructor (routes, middleware, exception
handlers, lifespan); `create_app` holds no state besides what it is given.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import structlog
from starlette.applications import Starlette
from starlette.middleware import Middleware

from gateway.api.connections import ConnectionsApi
from gateway.api.customers import CustomersApi
from gateway.api.dead_letters import DeadLettersApi
from gateway.api.deliveries import DeliveriesApi
from gateway.api.endpoints import EndpointsApi
from gateway.api.inbound_events import InboundEventsApi
from gateway.api.plans import PlansApi
from gateway.api.portal_sessions import PortalSessionsApi
from gateway.api.subscriptions import SubscriptionsApi
from gateway.auth_throttle import AuthThrottle, AuthThrottleMiddleware
from gateway.client_ip import IPNetwork, parse_trusted_proxies
from gateway.deps import GatewayDeps
from gateway.errors import exception_handlers
from gateway.health import PROBE_PATHS, health_operations
from gateway.idempotency import IdempotencyMiddleware
from gateway.inbound import SPAN_NAME as INBOUND_SPAN, InboundWebhooks
from gateway.lane import WebhookLane
from gateway.metrics_endpoint import METRICS_PATH, metrics_operations
from gateway.middleware import TracingMiddleware
from gateway.openapi import openapi_operation
from gateway.portal.access import presented_credential
from gateway.portal.web import portal_mount
from gateway.ratelimit import RateLimitMiddleware
from gateway.routing import RouteTable

log = structlog.get_logger()

# Probes and scrapes would drown the real spans.
UNTRACED_PATHS = (*PROBE_PATHS, METRICS_PATH)


def route_table(deps: GatewayDeps, inbound: InboundWebhooks | None = None) -> RouteTable:
    """Every route of the app, each declared as an operation that `GET /openapi.json` describes."""
    # Parsed once here: a bad SUBGATE_TRUSTED_PROXIES fails start-up, not every request.
    trusted = parse_trusted_proxies(deps.config.trusted_proxies)
    inbound = inbound or InboundWebhooks(deps, trusted)
    table = RouteTable()
    # Also routed, though `WebhookLane` answers these requests before the router sees them.
    table.add([inbound.operation()])
    table.add(health_operations(deps.readiness, deps.workers))
    table.add(metrics_operations(deps.telemetry.prometheus, deps.config.metrics_token, trusted))
    if deps.portal is not None:
        table.add(PortalSessionsApi(deps, deps.portal.sessions).operations())
    for api in (
        ConnectionsApi(deps),
        EndpointsApi(deps),
        DeliveriesApi(deps),
        DeadLettersApi(deps),
        InboundEventsApi(deps),
        PlansApi(deps),
        CustomersApi(deps),
        SubscriptionsApi(deps),
    ):
        table.add(api.operations())
    table.add([openapi_operation(table)])
    return table


def _middleware(
    deps: GatewayDeps, inbound: InboundWebhooks, trusted: Sequence[IPNetwork]
) -> list[Middleware]:
    """Outermost first: the span covers refusals; the throttle and the rate limit spend nothing
    on the store."""
    stack = [
        # The provider webhooks skip everything below (see gateway.lane).
        Middleware(WebhookLane, handler=inbound.handle, telemetry=deps.telemetry, span_name=INBOUND_SPAN),
        Middleware(TracingMiddleware, telemetry=deps.telemetry, untraced_paths=UNTRACED_PATHS),
    ]
    if deps.auth_failures is not None:
        throttle = AuthThrottle(deps.auth_failures)
        stack.append(
            Middleware(
                AuthThrottleMiddleware,
                throttle=throttle,
                trusted=trusted,
                exempt_paths=PROBE_PATHS,
                # Portal links and session cookies count as credentials too.
                credential=presented_credential,
            )
        )
    if deps.rate_limiter is not None:
        stack.append(Middleware(RateLimitMiddleware, limiter=deps.rate_limiter))
    if deps.idempotency is not None:
        stack.append(
            Middleware(
                IdempotencyMiddleware,
                keys=deps.idempotency,
                merchants=deps.merchants,
                max_body_bytes=deps.config.max_body_bytes,
            )
        )
    return stack


def create_app(deps: GatewayDeps) -> Starlette:
    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        # Resources (store, queue, telemetry) belong to the composition root, which closes them.
        log.info("gateway_started", base_url=deps.config.base_url, providers=sorted(deps.providers))
        yield
        log.info("gateway_stopped")

    # Parsed once here: a bad SUBGATE_TRUSTED_PROXIES fails start-up, not every request.
    trusted = parse_trusted_proxies(deps.config.trusted_proxies)
    inbound = InboundWebhooks(deps, trusted)
    routes = route_table(deps, inbound).routes()
    if deps.portal is not None:
        # HTML pages, outside the documented API (see gateway.portal).
        routes.append(portal_mount(deps, deps.portal))
    return Starlette(
        routes=routes,
        middleware=_middleware(deps, inbound, trusted),
        exception_handlers=exception_handlers(),
        lifespan=lifespan,
    )
