"""Tracing and logging, built by the composition root (nothing is configured at import time).

Traces: an OpenTelemetry tracer provider, exporting by OTLP/HTTP when an endpoint is
configured and recording the configured share of traces (none when nothing exports).
The trace context travels with the work as a W3C `traceparent` carrier, stored on the
inbound event and the outbox message and picked up by the worker loops.
Logs: structlog, JSON or console, each line carrying the current trace and span ids.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any, TextIO

import orjson
import structlog
from opentelemetry import context as otel_context, trace
from opentelemetry.propagate import extract, inject
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased, Sampler, TraceIdRatioBased
from opentelemetry.trace import Span, SpanKind, Tracer


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
    ) -> None:
        exporting = bool(otlp_endpoint) or bool(extra_processors)
        self.provider = TracerProvider(
            resource=Resource.create({"service.name": service_name}),
            sampler=sampler_for(exporting=exporting, ratio=sample_ratio),
        )
        if otlp_endpoint:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: PLC0415 - only when exporting

            endpoint = otlp_endpoint.rstrip("/") + "/v1/traces"
            self.provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        for processor in extra_processors:
            self.provider.add_span_processor(processor)
        self.tracer: Tracer = self.provider.get_tracer("subgate")

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

    def shutdown(self) -> None:
        self.provider.shutdown()


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
