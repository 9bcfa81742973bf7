"""Trace sampling: recorded share of traces, and trace ids that reach the logs either way."""

from __future__ import annotations

from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from structlog.testing import capture_logs

from integrations.telemetry.tracing import Telemetry, _add_trace_ids


def test_nothing_exported_means_nothing_recorded_yet_the_trace_id_travels() -> None:
    telemetry = Telemetry("t")
    with telemetry.continue_trace({}, "inbound") as span:
        assert not span.is_recording()
        carrier = telemetry.carrier()
        fields = _add_trace_ids(None, "info", {})
    with telemetry.continue_trace(carrier, "job") as job:
        # The worker's span joins the same trace, so its log lines share the id.
        assert job.get_span_context().trace_id == span.get_span_context().trace_id
    assert fields["trace_id"] == format(span.get_span_context().trace_id, "032x")


def test_every_trace_is_recorded_at_ratio_one_when_exporting() -> None:
    spans = InMemorySpanExporter()
    telemetry = Telemetry("t", extra_processors=(SimpleSpanProcessor(spans),), sample_ratio=1.0)
    for _ in range(20):
        with telemetry.continue_trace({}, "inbound"):
            pass
    assert len(spans.get_finished_spans()) == 20


def test_ratio_zero_records_nothing_and_children_follow_their_root() -> None:
    spans = InMemorySpanExporter()
    telemetry = Telemetry("t", extra_processors=(SimpleSpanProcessor(spans),), sample_ratio=0.0)
    with telemetry.continue_trace({}, "inbound"):
        carrier = telemetry.carrier()
    with telemetry.continue_trace(carrier, "job"), capture_logs():
        pass
    assert spans.get_finished_spans() == ()
    flags = int(carrier["traceparent"].rsplit("-", 1)[1], 16)
    assert flags & 1 == 0  # propagated, with the "sampled" bit off


def test_a_partial_ratio_records_some_traces_but_not_all() -> None:
    spans = InMemorySpanExporter()
    telemetry = Telemetry("t", extra_processors=(SimpleSpanProcessor(spans),), sample_ratio=0.5)
    for _ in range(400):
        with telemetry.continue_trace({}, "inbound"):
            pass
    assert 100 < len(spans.get_finished_spans()) < 300
