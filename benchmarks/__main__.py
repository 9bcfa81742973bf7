"""`python -m benchmarks`: run the benchmarks and print a Markdown table of the medians.

Progress and each repeat's raw figures go to stderr; the table goes to stdout.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Sequence

from benchmarks.delivery import DeliverySample, run_delivery
from benchmarks.ingest import IngestSample, run_ingest
from benchmarks.load import LoadResult
from benchmarks.processes import BenchmarkError
from benchmarks.report import Row, delivery_rows, ingest_rows, markdown_table


def _positive(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--events", type=_positive, default=4000, help="signed events per ingest run")
    parser.add_argument("--concurrency", type=_positive, default=64, help="concurrent ingest connections")
    parser.add_argument("--deliveries", type=_positive, default=2000, help="notifications per delivery run")
    parser.add_argument(
        "--repeat", type=_positive, default=3, help="runs per benchmark; medians are reported"
    )
    parser.add_argument("--only", choices=["ingest", "delivery"], help="run one benchmark only")
    return parser


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _load(result: LoadResult) -> str:
    return (
        f"{result.per_second:,.0f}/s (p50 {result.percentile_ms(50):.1f} ms, "
        f"p99 {result.percentile_ms(99):.1f} ms)"
    )


def _ingest(args: argparse.Namespace) -> list[IngestSample]:
    samples = []
    for number in range(1, args.repeat + 1):
        sample = run_ingest(args.events, args.concurrency, run=str(number))
        _progress(
            f"ingest {number}/{args.repeat}: subgate {_load(sample.subgate)}, bare {_load(sample.bare)}, "
            f"ratio {sample.ratio:.2f}, server peak RSS {sample.server_peak_rss_bytes / 1e6:.0f} MB"
        )
        samples.append(sample)
    return samples


def _delivery(args: argparse.Namespace) -> list[DeliverySample]:
    samples = []
    for number in range(1, args.repeat + 1):
        sample = run_delivery(args.deliveries)
        duplicates = sample.delivered.arrived - sample.delivered.count
        _progress(
            f"delivery {number}/{args.repeat}: worker {sample.delivered.per_second:,.0f}/s, "
            f"arq no-op {sample.noop.per_second:,.0f}/s, ratio {sample.ratio:.2f}, "
            f"spawn to all succeeded {sample.end_to_end_seconds:.2f} s, "
            f"worker peak RSS {sample.worker_peak_rss_bytes / 1e6:.0f} MB"
            + (f", {duplicates} duplicate sends" if duplicates else "")
        )
        samples.append(sample)
    return samples


def _settings_line(args: argparse.Namespace) -> str:
    parts = []
    if args.only in (None, "ingest"):
        parts.append(f"ingest: {args.events:,} signed events, {args.concurrency} connections")
    if args.only in (None, "delivery"):
        parts.append(f"delivery: {args.deliveries:,} notifications")
    machine = (
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()} {platform.machine()}"
    )
    return f"{'; '.join(parts)}; {args.repeat} repeats; {machine}"


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    started = time.monotonic()
    rows: list[Row] = []
    try:
        if args.only in (None, "ingest"):
            rows += ingest_rows(_ingest(args))
        if args.only in (None, "delivery"):
            rows += delivery_rows(_delivery(args))
    except BenchmarkError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1
    command = " ".join(["python -m benchmarks", *(argv if argv is not None else sys.argv[1:])])
    print(f"`{command.strip()}` ({_settings_line(args)}; took {time.monotonic() - started:.0f} s)\n")
    print(markdown_table(rows, args.repeat))
    missed = [row.figure for row in rows if row.met is False]
    if missed:
        print("\nTargets missed: " + "; ".join(missed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
