"""Operational metrics: inbound events, their processing, deliveries and emails.

Counts on the hot paths are plain integer additions on a `Series` looked up once per call;
OpenTelemetry reads them only when it collects (a `/metrics` scrape, or the periodic OTLP
export), through observable instruments. Durations and attempt counts are OpenTelemetry
histograms, recorded by the worker once per delivery, never on the ingest path.

Every figure belongs to the process that reports it: counters start at zero when the process
starts, and the in-flight gauge says what this process holds, not what the store holds.
A backend sums them over processes (Prometheus: `sum without (instance)`). The queue gauges
are the exception: a worker samples them from the store now and then (`workers.gauges`), so
every worker reports the same store-wide figures (take one of them, or `max`, never the sum).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

import structlog
from opentelemetry.metrics import CallbackOptions, Histogram, Meter, Observation
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from domain.inbound.model import InboundEvent, InboundStatus
from domain.notifications.health import DISPATCH_FAILED, Journal
from domain.notifications.model import Channel, Delivery, DeliveryStatus
from domain.notifications.recording import AttemptResult
from domain.shared.outbox import OutboxMessage
from integrations.stores.documents import StorageError
from integrations.stores.unreadable import Unreadable

log = structlog.get_logger()

INBOUND: Final = "inbound"
OUTBOX: Final = "outbox"
DELIVERIES: Final = "deliveries"
POSTPONED: Final = "postponed"
DEFERRED: Final = "deferred"
UNKNOWN_PROVIDER: Final = "unknown"
# Why a work item ended failed without running to its end (`work_item_failed`): it could not be
# read from the store, or running it raised an error nothing expected.
UNREADABLE: Final = "unreadable"
UNEXPECTED_ERROR: Final = "unexpected_error"

# Seconds: from a few milliseconds (a healthy endpoint) to the day and a half the default
# retry schedule can take before a message is delivered or dead-lettered.
LATENCY_BUCKETS: Final = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    300.0, 900.0, 1800.0, 3600.0, 7200.0, 21600.0, 43200.0, 86400.0, 172800.0,
)  # fmt: skip
WAIT_BUCKETS: Final = (
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
)  # fmt: skip
ATTEMPT_BUCKETS: Final = (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 10.0, 15.0, 20.0)


class Series:
    """One label set's running value: a count, or a level that goes up and down."""

    __slots__ = ("attributes", "value")

    def __init__(self, attributes: Mapping[str, str]) -> None:
        self.attributes = attributes
        self.value = 0

    def add(self, amount: int = 1) -> None:
        self.value += amount

    def set(self, value: int) -> None:
        self.value = value


class Family:
    """The series of one metric, by label values (bounded sets only: never ids or user input)."""

    def __init__(self, *label_names: str) -> None:
        self._names = label_names
        self._series: dict[tuple[str, ...], Series] = {}

    def series(self, *values: str) -> Series:
        found = self._series.get(values)
        if found is None:
            found = self._series[values] = Series(dict(zip(self._names, values, strict=True)))
        return found

    def clear(self) -> None:
        """Drop every series: the metric reports nothing until a series is set again."""
        self._series = {}

    def observe(self, _: CallbackOptions) -> Iterable[Observation]:
        # The OTLP reader collects from its own thread: list() copies the values in one step
        # (it holds the GIL), so a series added meanwhile cannot break the iteration.
        return [Observation(s.value, s.attributes) for s in list(self._series.values())]


class Metrics:
    """Every instrument of the service; the gateway and the worker call the methods below."""

    def __init__(self, meter: Meter) -> None:
        self.inbound_events = Family("provider", "outcome")
        self.processed = Family("provider", "outcome")
        self.deliveries = Family("channel", "outcome")
        self.dead_letters = Family("kind")
        self.endpoints_disabled = Family()
        self.work_items_failed = Family("queue", "reason")
        self.in_flight = Family("queue")
        self.queue_depth = Family("queue")
        self.queue_due = Family("queue")
        self.purged = Family("kind")
        self._observe(meter)
        self._latency = _histogram(
            meter,
            "subgate.delivery.latency",
            "s",
            "From a message's creation to its successful delivery",
            LATENCY_BUCKETS,
        )
        self._attempts = _histogram(
            meter,
            "subgate.delivery.attempts",
            "{attempt}",
            "Attempts a delivery took until it succeeded or became a dead letter",
            ATTEMPT_BUCKETS,
        )
        self._wait = _histogram(
            meter,
            "subgate.queue.wait",
            "s",
            "How long work waited in its queue before its first attempt",
            WAIT_BUCKETS,
        )
        # Attribute sets built once: the histogram calls allocate nothing of their own.
        self._by_channel = {c: {"channel": c.value} for c in Channel}
        self._by_settled = {
            (c, s): {"channel": c.value, "outcome": s.value}
            for c in Channel
            for s in (DeliveryStatus.SUCCEEDED, DeliveryStatus.DEAD)
        }
        self._by_queue = {q: {"queue": q} for q in (INBOUND, OUTBOX, DELIVERIES)}

    def _observe(self, meter: Meter) -> None:
        """The counters and gauges, read from their families when OpenTelemetry collects."""
        counters = (
            ("subgate.inbound.events", "{event}", self.inbound_events, "Inbound webhook requests by answer"),
            ("subgate.inbound.processed", "{event}", self.processed, "Recorded processing outcomes"),
            ("subgate.deliveries", "{attempt}", self.deliveries, "Recorded delivery attempts by outcome"),
            ("subgate.dead_letters", "{letter}", self.dead_letters, "Dead letters created"),
            (
                "subgate.endpoints.disabled",
                "{endpoint}",
                self.endpoints_disabled,
                "Endpoints disabled automatically (410 Gone, or failing too long)",
            ),
            (
                "subgate.work_items.failed",
                "{item}",
                self.work_items_failed,
                "Work items taken out of their queue: unreadable, or failing with an unexpected error",
            ),
            (
                "subgate.purged",
                "{item}",
                self.purged,
                "Payloads emptied and settled records removed by retention, by kind",
            ),
        )
        for name, unit, family, description in counters:
            meter.create_observable_counter(name, [family.observe], unit=unit, description=description)
        gauges = (
            ("subgate.work.in_flight", self.in_flight, "Items this process has claimed and not yet recorded"),
            (
                "subgate.queue.depth",
                self.queue_depth,
                "Items in the store not settled yet, claimed ones included (sampled)",
            ),
            (
                "subgate.queue.due",
                self.queue_due,
                "Items in the store whose due time has passed, waiting for a worker (sampled)",
            ),
        )
        for name, family, description in gauges:
            meter.create_observable_gauge(name, [family.observe], unit="{item}", description=description)

    def inbound_event(self, provider: str, outcome: str) -> None:
        """One answer to a provider: accepted, duplicate, or the refusal's short name."""
        self.inbound_events.series(provider, outcome).add()

    def inbound_claimed(self, event: InboundEvent, now: datetime) -> None:
        """Its wait in the queue, on its first processing (a postponed event has waited on purpose)."""
        if event.attempts == 0:
            self._wait.record(_seconds(event.received_at, now), self._by_queue[INBOUND])

    def inbound_recorded(self, stored: Sequence[InboundEvent]) -> None:
        """Outcomes as written: applied, ignored, failed, or postponed (still accepted, due later)."""
        for event in stored:
            outcome = POSTPONED if event.status == InboundStatus.ACCEPTED else event.status.value
            self.processed.series(event.provider, outcome).add()

    def attempt_started(self, delivery: Delivery, message: OutboxMessage | None, now: datetime) -> None:
        """On a delivery's first attempt: its wait for fan-out (outbox), then for a worker."""
        if delivery.attempts:
            return
        if message is not None:
            self._wait.record(_seconds(message.occurred_at, delivery.created_at), self._by_queue[OUTBOX])
        self._wait.record(_seconds(delivery.created_at, now), self._by_queue[DELIVERIES])

    def attempt_recorded(self, result: AttemptResult, message: OutboxMessage | None, now: datetime) -> None:
        """A success (the record turns any 2xx or accepted email into `succeeded`): its latency."""
        answer = result.result
        if message is not None and not result.deferred and answer is not None and answer.ok:
            self._latency.record(_seconds(message.occurred_at, now), self._by_channel[result.claimed.channel])

    def deliveries_recorded(self, results: Sequence[AttemptResult], stored: Sequence[Delivery]) -> None:
        """Outcomes as written; a delivery another worker recorded first is not in `stored`."""
        deferred = {r.claimed.id for r in results if r.deferred}
        for delivery in stored:
            channel = delivery.channel
            if delivery.id in deferred:
                self.deliveries.series(channel.value, DEFERRED).add()
                continue
            self.deliveries.series(channel.value, delivery.status.value).add()
            if delivery.status in (DeliveryStatus.SUCCEEDED, DeliveryStatus.DEAD):
                self._attempts.record(len(delivery.attempts), self._by_settled[channel, delivery.status])
            if delivery.status == DeliveryStatus.DEAD:
                self.dead_letters.series(channel.value).add()

    def endpoint_disabled(self) -> None:
        self.endpoints_disabled.series().add()

    def work_item_failed(self, queue: str, reason: str) -> None:
        """One item of `queue` (inbound, outbox, deliveries, subscriptions) failed for `reason`
        (`UNREADABLE` or `UNEXPECTED_ERROR`) instead of running to its end."""
        self.work_items_failed.series(queue, reason).add()

    def purged_items(self, counts: Mapping[str, int]) -> None:
        """What a retention step removed, by kind (`integrations.stores.retention.batches.KINDS`)."""
        for kind, count in counts.items():
            if count:
                self.purged.series(kind).add(count)

    def queues_counted(self, depth: Mapping[str, int], due: Mapping[str, int]) -> None:
        """The latest sample of the store's queues, by queue name (`INBOUND`, `OUTBOX`, `DELIVERIES`)."""
        for family, counts in ((self.queue_depth, depth), (self.queue_due, due)):
            for queue, count in counts.items():
                family.series(queue).set(count)

    def queues_unknown(self) -> None:
        """The store could not be counted: report no queue figures rather than stale ones."""
        self.queue_depth.clear()
        self.queue_due.clear()


def _histogram(meter: Meter, name: str, unit: str, description: str, buckets: Sequence[float]) -> Histogram:
    return meter.create_histogram(
        name, unit=unit, description=description, explicit_bucket_boundaries_advisory=buckets
    )


def _seconds(start: datetime, end: datetime) -> float:
    return max((end - start).total_seconds(), 0.0)


class MeteredJournal:
    """The notifications journal, counting the endpoints it reports as disabled and the outbox
    messages whose fan-out failed with an unexpected error (not the store being away)."""

    DISABLED_EVENT: Final = "endpoint_disabled"

    def __init__(self, journal: Journal, metrics: Metrics) -> None:
        self._journal = journal
        self._metrics = metrics

    def info(self, event: str, **fields: Any) -> Any:
        return self._journal.info(event, **fields)

    def warning(self, event: str, **fields: Any) -> Any:
        if event == self.DISABLED_EVENT:
            self._metrics.endpoint_disabled()
        elif event == DISPATCH_FAILED and not isinstance(fields.get("error"), StorageError | OSError):
            self._metrics.work_item_failed(OUTBOX, UNEXPECTED_ERROR)
        return self._journal.warning(event, **fields)


class MeteredUnreadable:
    """The store's report of unreadable work items (`integrations.stores.unreadable`): logged
    and counted in `subgate_work_items_failed_total`."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def __call__(self, item: Unreadable) -> None:
        log.error("work_item_unreadable", queue=item.queue, item_id=item.item_id, reason=item.reason)
        self._metrics.work_item_failed(item.queue, UNREADABLE)


class PrometheusText:
    """The Prometheus text rendering of one process's metrics, from its own registry."""

    content_type: Final = CONTENT_TYPE_LATEST

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def render(self) -> bytes:
        return generate_latest(self._registry)
