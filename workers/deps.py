"""What workers need, declared here and built by the composition root: the Internal services."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from arq.connections import ArqRedis

from domain.inbound.internal import InboundInternal
from domain.notifications.internal import NotificationsInternal
from domain.shared.clock import Clock
from domain.shared.outbox import TraceCarrier
from domain.shared.txn import TxnFn
from domain.subscriptions.internal import SubscriptionsInternal
from domain.subscriptions.timed_moves import Timing
from integrations.providers.interface import ProviderAdapter
from integrations.redis.signals import LocalSignal
from integrations.stores.backlog import QueueCounts
from integrations.stores.batch import Batch
from integrations.stores.documents import DocumentStore
from integrations.stores.leases import DEAD_AFTER_SECONDS, WorkerRegistry
from integrations.stores.repositories import StoreUnit
from integrations.stores.retention.purge import Purger
from integrations.stores.sealing.resealing import Resealer
from integrations.telemetry.tracing import Telemetry


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerConfig:
    """The settings workers read; the root fills them from `subgate.settings.Settings`."""

    delivery_timeout_seconds: float = 15.0
    # How many deliveries one worker has in flight at once, and per endpoint (so that one
    # endpoint that hangs for its full timeout holds at most this many slots).
    max_in_flight: int = 200
    per_endpoint: int = 20
    # How many items one claim takes from the store.
    batch: int = 100
    # How long an idle loop waits before looking at the store again without a signal.
    poll_seconds: float = 0.5
    heartbeat_seconds: float = 1.0
    # A worker whose heartbeat is older than this is taken for dead: its leases go back.
    dead_after_seconds: float = DEAD_AFTER_SECONDS


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundBatches:
    """What a batch of inbound events is applied with (`workers.batches`): the store, and the
    settings of the subscriptions service that applies each event."""

    store: DocumentStore
    clock: Clock
    trace: TraceCarrier
    timing: Timing
    # Wraps each unit of work of a batch as the root wraps each transaction (with its span).
    units: Callable[[TxnFn[StoreUnit]], TxnFn[StoreUnit]] = lambda units: units
    # The store's sessions are not transactions: changes carry what is left to do (see
    # `domain.subscriptions.recording`).
    carried: bool = False

    def subscriptions(self, batch: Batch) -> SubscriptionsInternal:
        return SubscriptionsInternal(
            self.units(batch.txn), self.clock, self.trace, timing=self.timing, carried=self.carried
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerDeps:
    config: WorkerConfig
    clock: Clock
    telemetry: Telemetry
    providers: Mapping[str, ProviderAdapter]
    signal: LocalSignal
    registry: WorkerRegistry
    redis: ArqRedis | None  # wake-ups and arq; None when this process has no Redis (tests)
    subscriptions: SubscriptionsInternal
    inbound: InboundInternal
    notifications: NotificationsInternal
    # What the store's queues hold, for the queue gauges (workers.gauges); None: no gauges.
    queues: QueueCounts | None = None
    # Applies claimed inbound events in batches, one transaction each (workers.batches);
    # None: each event in a transaction of its own.
    batches: InboundBatches | None = None
    # Re-seals stored secrets with the first key after a rotation (workers.runner); None: never.
    secrets: Resealer | None = None
    # Removes old payloads and settled records, a step per scheduler run (workers.runner); None: never.
    retention: Purger | None = None
