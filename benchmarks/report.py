"""Medians over the repeats, rendered as a Markdown table that can be pasted into the README."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, TypeVar

from benchmarks.delivery import DeliverySample
from benchmarks.ingest import IngestSample

T = TypeVar("T")

INGEST_RATIO_TARGET: Final = 0.5
DELIVERY_RATE_TARGET: Final = 1000.0
DELIVERY_RATIO_TARGET: Final = 0.8
RSS_TARGET_MB: Final = 150.0


@dataclass(frozen=True, slots=True)
class Row:
    figure: str
    median: str
    target: str = "—"
    ratio: str = "—"
    met: bool | None = None


def median_of(samples: Sequence[T], value: Callable[[T], float]) -> float:
    return statistics.median(value(sample) for sample in samples)


def _mb(size: float) -> float:
    return size / 1_000_000


def ingest_rows(samples: Sequence[IngestSample]) -> list[Row]:
    rate = median_of(samples, lambda s: s.subgate.per_second)
    bare = median_of(samples, lambda s: s.bare.per_second)
    ratio = median_of(samples, lambda s: s.ratio)
    p50 = median_of(samples, lambda s: s.subgate.percentile_ms(50))
    p99 = median_of(samples, lambda s: s.subgate.percentile_ms(99))
    bare_p50 = median_of(samples, lambda s: s.bare.percentile_ms(50))
    bare_p99 = median_of(samples, lambda s: s.bare.percentile_ms(99))
    rss = median_of(samples, lambda s: _mb(s.server_peak_rss_bytes))
    return [
        Row(
            "Ingest, `subgate serve` (events/s)",
            f"{rate:,.0f}",
            f"≥ {INGEST_RATIO_TARGET}x bare Starlette",
            f"{ratio:.2f}x bare",
            ratio >= INGEST_RATIO_TARGET,
        ),
        Row("Ingest, bare Starlette on the same stack (events/s)", f"{bare:,.0f}", "reference"),
        Row(
            "Ingest latency p50 / p99, `subgate serve` (ms)",
            f"{p50:.1f} / {p99:.1f}",
            "—",
            f"{p50 / bare_p50:.1f}x / {p99 / bare_p99:.1f}x bare",
        ),
        Row("Ingest latency p50 / p99, bare Starlette (ms)", f"{bare_p50:.1f} / {bare_p99:.1f}", "reference"),
        Row(
            "Peak RSS, `subgate serve` (MB)",
            f"{rss:.0f}",
            f"≤ {RSS_TARGET_MB:.0f} MB",
            f"{rss / RSS_TARGET_MB:.2f}x target",
            rss <= RSS_TARGET_MB,
        ),
    ]


def delivery_rows(samples: Sequence[DeliverySample]) -> list[Row]:
    rate = median_of(samples, lambda s: s.delivered.per_second)
    noop = median_of(samples, lambda s: s.noop.per_second)
    ratio = median_of(samples, lambda s: s.ratio)
    total = median_of(samples, lambda s: s.end_to_end_seconds)
    count = samples[0].delivered.count
    rss = median_of(samples, lambda s: _mb(s.worker_peak_rss_bytes))
    return [
        Row(
            "Delivery, one `subgate worker` (notifications/s)",
            f"{rate:,.0f}",
            f"≥ {DELIVERY_RATE_TARGET:,.0f}/s and ≥ {DELIVERY_RATIO_TARGET}x arq no-op",
            f"{ratio:.2f}x no-op",
            rate >= DELIVERY_RATE_TARGET and ratio >= DELIVERY_RATIO_TARGET,
        ),
        Row("Delivery, arq no-op jobs with the same worker settings (jobs/s)", f"{noop:,.0f}", "reference"),
        Row(
            f"Delivery, worker spawn → all {count:,} succeeded (s)",
            f"{total:.2f}",
            "—",
            f"{count / total:,.0f}/s overall",
        ),
        Row(
            "Peak RSS, `subgate worker` (MB)",
            f"{rss:.0f}",
            f"≤ {RSS_TARGET_MB:.0f} MB",
            f"{rss / RSS_TARGET_MB:.2f}x target",
            rss <= RSS_TARGET_MB,
        ),
    ]


def markdown_table(rows: Sequence[Row], repeats: int) -> str:
    lines = [
        f"| Figure | Median of {repeats} | Target | Ratio | Met |",
        "|---|---:|---|---:|:---:|",
    ]
    for row in rows:
        met = "" if row.met is None else ("yes" if row.met else "**no**")
        lines.append(f"| {row.figure} | {row.median} | {row.target} | {row.ratio} | {met} |")
    return "\n".join(lines)
