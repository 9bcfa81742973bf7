"""What workers need, declared here and built by the composition root: the Internal services."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from domain.billing.internal import InboundInternal
from domain.notifications.internal import NotificationsInternal
from domain.shared.clock import Clock
from domain.subscriptions.internal import SubscriptionsInternal
from integrations.providers import ProviderAdapter
from integrations.redis.queue import ArqQueue
from integrations.telemetry import Telemetry


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerConfig:
    """The settings workers read; the root fills them from `subgate.settings.Settings`."""

    sweep_interval_seconds: float = 5.0
    delivery_timeout_seconds: float = 15.0
    max_jobs: int = 200


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerDeps:
    config: WorkerConfig
    clock: Clock
    telemetry: Telemetry
    providers: Mapping[str, ProviderAdapter]
    queue: ArqQueue
    subscriptions: SubscriptionsInternal
    inbound: InboundInternal
    notifications: NotificationsInternal
