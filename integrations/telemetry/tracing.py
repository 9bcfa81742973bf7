"""Tracing, metrics and logging, built by the composition root (nothing is configured at import time).

Traces: an OpenTelemetry tracer provider, exporting by OTLP/HTTP when an endpoint is
configured and recording the configured share of traces (none when nothing exports).
The trace context travels with the work as a W3C `traceparent` carrier, stored on the
inbound event and the outbox message and picked up by the worker loops. Store
transactions, email sends and the records of batched results get spans only inside a
recorded trace, so unrecorded work pays for none of them.
Metrics: an OpenTelemetry meter provider (see `integrations.telemetry.metrics`), read in Prometheus
text by `/metrics` from a registry of its own, and exported by OTLP/HTTP when configured.
Logs: structlog, JSON or console, each line carrying the current trace and span ids.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any, TextIO, TypeVar

import orjson
import structlog
from opentelemetry import context as otel_context, trace
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.propagate import extract, inject
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased, Sampler, TraceIdRatioBased
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from prometheus_client import CollectorRegistry

from domain.notifications.ports import Mailer, OutboundEmail, SendResult
from domain.shared.txn import TxnFn
from integrations.stores.repositories import StoreUnit
from integrations.stores.txn import StoreTxn
from integrations.telemetry.metrics import Metrics, PrometheusText

T = TypeVar("T")


def sampler_for(*, exporting: bool, ratio: float) -> Sampler:
    """Which new traces are recorded: `ratio` of them when spans go anywhere, none otherwise.

    A trace that is not recorded still gets its ids, propagated with the work, so log lines
    carry a trace id either way; only recording (and its cost) is skipped. Work that joins
    an existing trace follows that trace's decision, so a trace is whole or absent.
    """
    if not exporting or ratio <= 0:
        return ParentBased(root=ALWAYS_OFF)
    return ParentBased(root=TraceIdRatioBased(min(ratio, 1.0)))


class Telemetry:
    def __init__(
        self,
        service_name: str,
        otlp_endpoint: str | None = None,
        extra_processors: tuple[SpanProcessor, ...] = (),
        *,
        sample_ratio: float = 1.0,
        metrics_endpoint: str | None = None,
        metric_readers: tuple[MetricReader, ...] = (),
    ) -> None:
        """`otlp_endpoint` receives traces, `metrics_endpoint` metrics (both OTLP/HTTP base URLs)."""
        resource = service_resource(service_name)
        exporting = bool(otlp_endpoint) or bool(extra_processors)
        self.provider = TracerProvider(
            resource=resource, sampler=sampler_for(exporting=exporting, ratio=sample_ratio)
        )
        if otlp_endpoint:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: PLC0415 - only when exporting

            endpoint = otlp_endpoint.rstrip("/") + "/v1/traces"
            self.provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        for processor in extra_processors:
            self.provider.add_span_processor(processor)
        self.tracer: Tracer = self.provider.get_tracer("subgate")
        # A registry of our own: the process-wide default one would mix in whatever else
        # registers there, and would refuse a second provider (tests build many).
        registry = CollectorRegistry()
        readers: list[MetricReader] = [
            PrometheusMetricReader(registry=registry, scope_info_enabled=False),
            *metric_readers,
        ]
        if metrics_endpoint:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter  # noqa: PLC0415 - only when exporting

            exporter = OTLPMetricExporter(endpoint=metrics_endpoint.rstrip("/") + "/v1/metrics")
            readers.append(PeriodicExportingMetricReader(exporter))
        self.meter_provider = MeterProvider(metric_readers=readers, resource=resource)
        self.metrics = Metrics(self.meter_provider.get_meter("subgate"))
        self.prometheus = PrometheusText(registry)

    def carrier(self) -> dict[str, str]:
        """The current trace context as a W3C carrier, for work that continues elsewhere."""
        out: dict[str, str] = {}
        inject(out)
        return out

    @contextmanager
    def continue_trace(
        self, carrier: Mapping[str, str], name: str, kind: SpanKind = SpanKind.CONSUMER, **attributes: Any
    ) -> Iterator[Span]:
        """A span that joins the trace described by `carrier` (a new trace when it is empty)."""
        token = otel_context.attach(extract(dict(carrier)))
        try:
            with self.tracer.start_as_current_span(name, kind=kind, attributes=attributes) as span:
                yield span
        finally:
            otel_context.detach(token)

    @contextmanager
    def recorded_span(self, carrier: Mapping[str, str], name: str, **attributes: Any) -> Iterator[None]:
        """A span in the trace of `carrier` if that trace is recorded; nothing at all otherwise."""
        if not is_sampled(carrier):
            yield
            return
        with self.continue_trace(carrier, name, SpanKind.INTERNAL, **attributes):
            yield

    @staticmethod
    @contextmanager
    def detached() -> Iterator[None]:
        """Run outside any trace: for work done on behalf of many traces at once (a batch)."""
        token = otel_context.attach(otel_context.Context())
        try:
            yield
        finally:
            otel_context.detach(token)

    def shutdown(self) -> None:
        self.provider.shutdown()
        self.meter_provider.shutdown()


def service_resource(default_name: str) -> Resource:
    """`OTEL_SERVICE_NAME` (and `OTEL_RESOURCE_ATTRIBUTES`) win, as everywhere in OpenTelemetry."""
    detected = Resource.create()
    if str(detected.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        return detected.merge(Resource({SERVICE_NAME: default_name}))
    return detected


def is_sampled(carrier: Mapping[str, str]) -> bool:
    """Whether the W3C `traceparent` in `carrier` says its trace is recorded (its sampled flag)."""
    traceparent = carrier.get("traceparent", "")
    try:
        return bool(int(traceparent[-2:], 16) & 1)
    except ValueError:  # absent or malformed: not a recorded trace
        return False


class TracedTxn:
    """The store's TxnFn, with a span around each transaction run inside a recorded trace."""

    def __init__(self, txn: StoreTxn | TxnFn[StoreUnit], tracer: Tracer, system: str) -> None:
        self._txn = txn
        self._tracer = tracer
        self._attributes = {"db.system.name": system}

    async def __call__(self, work: Callable[[StoreUnit], Awaitable[T]], /) -> T:
        if not trace.get_current_span().is_recording():
            return await self._txn(work)
        with self._tracer.start_as_current_span(
            transaction_name(work), kind=SpanKind.CLIENT, attributes=self._attributes
        ):
            return await self._txn(work)


def transaction_name(work: Callable[..., object]) -> str:
    """`store InboundExternal.receive` for the `work` closure of that method."""
    target = work.func if isinstance(work, functools.partial) else work
    qualified = getattr(target, "__qualname__", type(target).__name__)
    return "store " + qualified.replace(".<locals>.work", "").replace(".<locals>", "")


class TracedMailer:
    """A `Mailer` whose sends are CLIENT spans of the delivery's trace, when it is recorded."""

    def __init__(self, mailer: Mailer, tracer: Tracer) -> None:
        self._mailer = mailer
        self._tracer = tracer

    async def send(self, email: OutboundEmail) -> SendResult:
        if not trace.get_current_span().is_recording():
            return await self._mailer.send(email)
        attributes = {"subgate.delivery_id": email.delivery_id, "subgate.event_type": email.event_type}
        with self._tracer.start_as_current_span(
            "send email", kind=SpanKind.CLIENT, attributes=attributes
        ) as span:
            result = await self._mailer.send(email)
            if result.status_code is not None:
                span.set_attribute("smtp.response.status_code", result.status_code)
            if not result.ok:
                span.set_status(Status(StatusCode.ERROR, result.error or "not sent"))
            return result


def _add_trace_ids(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid:
        event_dict["trace_id"] = format(span_context.trace_id, "032x")
        event_dict["span_id"] = format(span_context.span_id, "016x")
    return event_dict


def _json_line(event: Any, **_: Any) -> str:
    # orjson: log lines are on the hot path of every request and job.
    return orjson.dumps(event, default=str).decode()


def configure_logging(
    log_format: str, level: int = logging.INFO, *, cache: bool = True, stream: TextIO | None = None
) -> None:
    """Called once by the command line entry point, never on import.

    `cache=False` keeps loggers re-reading the configuration (and `sys.stderr`) on every call,
    for tests that reconfigure logging; services cache for speed. `stream` defaults to stderr.
    """
    out = sys.stderr if stream is None else stream
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_json_line)
        if log_format == "json"
        # Colours only for a person at a terminal: escape codes in a file or a pipe are noise.
        else structlog.dev.ConsoleRenderer(colors=_is_terminal(out))
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _add_trace_ids,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=cache,
    )
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a stream without isatty, or one already closed
        return False
