"""What the gateway needs, declared here and built by the composition root (`subgate.bootstrap`).

Only External services: the gateway cannot reach worker-only (Internal) operations, and an
import-linter contract checks it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from domain.inbound.external import InboundExternal
from domain.merchants.external import MerchantsExternal
from domain.merchants.portal import PortalSessions
from domain.notifications.external import NotificationsExternal
from domain.notifications.history import NotificationHistory
from domain.shared.clock import Clock
from domain.subscriptions.external.subscriptions import SubscriptionsExternal
from integrations.delivery.http.registration import TargetCheck, registration_check
from integrations.providers.interface import ProviderAdapter
from integrations.stores.idempotency import Begun, KeyedRequest, SavedResponse, Started
from integrations.stores.leases import WorkerCensus
from integrations.telemetry.tracing import Telemetry

ReadinessCheck = Callable[[], Awaitable[Mapping[str, bool]]]
WorkerCheck = Callable[[], Awaitable[WorkerCensus]]
"""Which workers run, from their heartbeats in the store (reported by `/readyz`, never a check)."""

# For apps built without a check (tests of other routes): URLs are still normalised, any
# address is accepted, and every attempt is still checked.
accept_every_target: TargetCheck = registration_check(allow_private=True)


class IdempotencyKeys(Protocol):
    """Where REST POSTs with an Idempotency-Key record their answers (see gateway.idempotency)."""

    async def begin(self, request: KeyedRequest) -> Begun:
        """Take the key (Started), or the earlier request's answer (Replay) or refusal (Refused)."""
        ...

    async def complete(self, started: Started, response: SavedResponse) -> bool: ...

    async def release(self, started: Started) -> bool: ...


class RateLimiter(Protocol):
    async def hit(self, identity: str) -> float | None:
        """Count one request of `identity`: None when allowed, else seconds until one would be."""
        ...


class FailureCounter(Protocol):
    async def spend(self, identity: str) -> float | None:
        """Count one failed authentication of `identity` (a client address or network): None
        while it may fail again, else seconds until it may (its budget is spent)."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayConfig:
    """The settings the gateway reads; the root fills them from `subgate.settings.Settings`."""

    base_url: str = "http://127.0.0.1:8000"
    trusted_proxies: str = ""
    max_body_bytes: int = 262_144
    webhook_tolerance_seconds: int = 300
    # Bearer token `/metrics` requires; None: it answers loopback clients only.
    metrics_token: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PortalDeps:
    """What the merchant portal needs besides the REST API's services."""

    sessions: PortalSessions
    history: NotificationHistory
    # CSP `frame-ancestors` of its pages (SUBGATE_PORTAL_FRAME_ANCESTORS), already checked.
    frame_ancestors: str = "'none'"


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayDeps:
    config: GatewayConfig
    clock: Clock
    telemetry: Telemetry
    providers: Mapping[str, ProviderAdapter]
    merchants: MerchantsExternal
    subscriptions: SubscriptionsExternal
    inbound: InboundExternal
    notifications: NotificationsExternal
    readiness: ReadinessCheck
    # What `/readyz` says of the workers beside its checks (None: nothing is said).
    workers: WorkerCheck | None = None
    # Endpoint URLs are normalised the HTTP client's way, and those pointing into our own network
    # are refused with a clear reason; the composition root builds it from SUBGATE_ALLOW_PRIVATE_TARGETS.
    check_target: TargetCheck = accept_every_target
    # Idempotency-Key on `/v1` POSTs (None: the header is ignored) and a request budget per API
    # key (None: unlimited); the composition root builds both.
    idempotency: IdempotencyKeys | None = None
    rate_limiter: RateLimiter | None = None
    # Failed authentications per client address (None: not throttled; see gateway.auth_throttle).
    auth_failures: FailureCounter | None = None
    # The merchant portal and `/v1/portal-sessions` (None: neither is served).
    portal: PortalDeps | None = None
