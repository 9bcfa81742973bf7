"""The benchmark scripts run end to end on tiny inputs. Speed targets live in the benchmark output only."""

from __future__ import annotations

import pytest

from benchmarks.__main__ import main
from benchmarks.delivery import run_delivery
from benchmarks.ingest import run_ingest
from benchmarks.report import delivery_rows, ingest_rows, markdown_table


def test_ingest_benchmark_counts_every_event() -> None:
    sample = run_ingest(events=50, concurrency=8)

    assert sample.subgate.requests == 50
    assert sample.bare.requests == 50
    assert len(sample.subgate.latencies) == 50
    assert all(latency > 0 for latency in sample.subgate.latencies + sample.bare.latencies)
    assert sample.server_peak_rss_bytes > 0
    table = markdown_table(ingest_rows([sample]), repeats=1)
    assert "`subgate serve` (events/s)" in table


def test_delivery_benchmark_sees_every_notification_succeed() -> None:
    sample = run_delivery(50)

    assert sample.delivered.count == 50
    assert sample.delivered.arrived >= 50
    assert sample.noop.count == 50
    assert sample.delivered.first <= sample.delivered.last <= sample.all_succeeded
    assert sample.worker_started < sample.delivered.first
    assert sample.worker_peak_rss_bytes > 0
    table = markdown_table(delivery_rows([sample]), repeats=1)
    assert "arq no-op" in table


def test_command_line_prints_a_markdown_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--only", "delivery", "--deliveries", "20", "--repeat", "1"]) == 0

    out = capsys.readouterr().out
    assert "| Figure | Median of 1 | Target | Ratio | Met |" in out
    assert "notifications/s" in out
