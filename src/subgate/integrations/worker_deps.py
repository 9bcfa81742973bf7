"""What workers receive from the composition root: the Internal services."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from subgate.domain.billing.internal import InboundInternal
from subgate.domain.notifications.internal import NotificationsInternal
from subgate.domain.shared.clock import Clock
from subgate.domain.subscriptions.internal import SubscriptionsInternal
from subgate.integrations.providers import ProviderAdapter
from subgate.integrations.redis.queue import ArqQueue
from subgate.integrations.settings import Settings
from subgate.integrations.telemetry import Telemetry


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerDeps:
    settings: Settings
    clock: Clock
    telemetry: Telemetry
    providers: Mapping[str, ProviderAdapter]
    queue: ArqQueue
    subscriptions: SubscriptionsInternal
    inbound: InboundInternal
    notifications: NotificationsInternal
