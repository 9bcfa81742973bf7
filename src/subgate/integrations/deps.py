"""What each entry point receives from the composition root.

The gateway gets only External services; workers get the Internal ones. This
module imports no Internal service, so the gateway can depend on it without
being able to reach worker-only operations (an import-linter contract checks it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from subgate.domain.billing.service import InboundExternal
from subgate.domain.merchants.service import MerchantsExternal
from subgate.domain.notifications.service import NotificationsExternal
from subgate.domain.shared.clock import Clock
from subgate.domain.subscriptions.service import SubscriptionsExternal
from subgate.integrations.providers import ProviderAdapter
from subgate.integrations.settings import Settings
from subgate.integrations.telemetry import Telemetry

ReadinessCheck = Callable[[], Awaitable[Mapping[str, bool]]]


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayDeps:
    settings: Settings
    clock: Clock
    telemetry: Telemetry
    providers: Mapping[str, ProviderAdapter]
    merchants: MerchantsExternal
    subscriptions: SubscriptionsExternal
    inbound: InboundExternal
    notifications: NotificationsExternal
    readiness: ReadinessCheck
