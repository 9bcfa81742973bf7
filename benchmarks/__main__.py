"""`python -m benchmarks`: run the benchmarks; print the medians as a Markdown table and save
them, with every run's figure, as JSON (`--json`, default benchmarks/results.json).

`python -m benchmarks --history` adds the same ingest and delivery figures on a store that
already holds a million inbound events and deliveries (`benchmarks.with_history`; minutes more).

`python -m benchmarks --markdown [FILE]` prints the table of a saved JSON file without running
anything: the README's table is made that way. Progress and each run's figures go to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from benchmarks.delivery import run_delivery
from benchmarks.dev import run_dev
from benchmarks.during_purge import DEFAULT_PURGE_HISTORY, run_during_purge
from benchmarks.end_to_end import run_end_to_end
from benchmarks.ingest import run_ingest
from benchmarks.portal import run_portal
from benchmarks.processes import ROOT, BenchmarkError
from benchmarks.profiles import py_spy, render, summarize
from benchmarks.results import (
    Measurement,
    check_units,
    collect,
    document,
    format_value,
    highest_per_key,
    markdown,
)
from benchmarks.with_history import DEFAULT_HISTORY, HistoryStore, run_history
from benchmarks.workers import run_workers

DEFAULT_JSON = ROOT / "benchmarks" / "results.json"
BENCHMARKS = ("ingest", "delivery", "e2e", "dev", "workers", "history", "purge", "portal")
# Run only when asked for (`--history`, or `--only history` / `--only purge` / `--only portal`):
# they write history first.
ON_REQUEST = ("history", "purge", "portal")


def _positive(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _positive_float(raw: str) -> float:
    value = float(raw)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--repeat", type=_positive, default=3, help="runs of each benchmark; medians are reported (3)")
    add("--only", action="append", choices=BENCHMARKS, help="run this benchmark (repeatable; default all)")
    add("--events", type=_positive, default=10000, help="signed events per ingest measurement (10000)")
    add("--concurrency", type=_positive, default=64, help="connections of the ingest and dev loads (64)")
    add("--deliveries", type=_positive, default=5000, help="notifications per delivery run (5000)")
    add(
        "--single-deliveries", type=_positive, default=500, help="notifications to one endpoint per run (500)"
    )
    add("--rate", type=_positive_float, default=200.0, help="end to end: offered events/s (200)")
    add(
        "--seconds", type=_positive_float, default=10.0, help="end to end: seconds measured at that rate (10)"
    )
    add("--dev-events", type=_positive, default=1000, help="events per `subgate dev` run (1000)")
    add(
        "--worker-events",
        type=_positive,
        default=5000,
        help="workers: the backlog one, then two workers apply on one store (5000)",
    )
    add(
        "--history",
        type=_positive,
        nargs="?",
        const=DEFAULT_HISTORY,
        default=0,
        metavar="N",
        help=f"also run ingest and delivery on a store holding N events and N deliveries "
        f"(N = {DEFAULT_HISTORY:,} if omitted; off by default)",
    )
    add(
        "--purge-history",
        type=_positive,
        default=DEFAULT_PURGE_HISTORY,
        metavar="N",
        help=f"purge: events and deliveries stored before the run ({DEFAULT_PURGE_HISTORY:,})",
    )
    add(
        "--json", type=Path, default=DEFAULT_JSON, help=f"where to write the results (default {DEFAULT_JSON})"
    )
    add(
        "--profile",
        type=Path,
        metavar="DIR",
        help="record py-spy profiles of the processes under load in DIR",
    )
    add(
        "--markdown",
        type=Path,
        nargs="?",
        const=DEFAULT_JSON,
        metavar="FILE",
        help="only print the Markdown table of a saved results file (default: the --json default)",
    )
    return parser


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _runners(
    args: argparse.Namespace, history: HistoryStore
) -> dict[str, Callable[[str], list[Measurement]]]:
    profile: Path | None = args.profile
    return {
        "ingest": lambda run: run_ingest(args.events, args.concurrency, run, profile),
        "delivery": lambda run: run_delivery(args.deliveries, args.single_deliveries, run, profile),
        "e2e": lambda run: run_end_to_end(args.rate, args.seconds, run),
        "dev": lambda run: run_dev(args.dev_events, args.concurrency, run, profile),
        "workers": lambda run: run_workers(args.worker_events, run),
        "history": lambda run: run_history(
            history, args.events, args.concurrency, args.deliveries, run, _progress
        ),
        "purge": lambda run: run_during_purge(args.purge_history, args.rate, args.seconds, run),
        # The history is written once per invocation, like the history benchmark's.
        "portal": lambda run: run_portal(_history_size(args), _progress) if run == "1" else [],
    }


def _sizes(args: argparse.Namespace, chosen: Sequence[str]) -> str:
    sizes = {
        "ingest": f"ingest {args.events:,} events x {args.concurrency} connections",
        "delivery": f"delivery {args.deliveries:,} notifications, {args.single_deliveries:,} to one endpoint",
        "e2e": f"end to end {args.rate:g} events/s for {args.seconds:g} s",
        "dev": f"dev {args.dev_events:,} events x {args.concurrency} connections",
        "workers": f"workers a backlog of {args.worker_events:,} events, one then two workers",
        "history": f"history {_history_size(args):,} events and deliveries stored",
        "purge": f"end to end during a purge of {args.purge_history:,} events and deliveries stored",
        "portal": f"portal pages over {_history_size(args):,} deliveries of one merchant",
    }
    return ", ".join(sizes[name] for name in chosen)


def _machine() -> str:
    return (
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()} {platform.machine()}"
    )


def _history_size(args: argparse.Namespace) -> int:
    """The history asked for; `--only history` alone means the default size."""
    size: int = args.history
    if not size and args.only is not None and {"history", "portal"} & set(args.only):
        return DEFAULT_HISTORY
    return size


def _chosen(args: argparse.Namespace) -> list[str]:
    if args.only is not None:
        return [name for name in BENCHMARKS if name in args.only]
    return [name for name in BENCHMARKS if name not in ON_REQUEST or args.history]


def _run(args: argparse.Namespace, argv: Sequence[str]) -> dict[str, object]:
    chosen = _chosen(args)
    history = HistoryStore(_history_size(args))
    runners = _runners(args, history)
    started = time.monotonic()
    measurements: list[Measurement] = []
    try:
        # Repeats interleave the benchmarks, so that a slow spell of a shared machine is spread out.
        for number in range(1, args.repeat + 1):
            repeat: list[Measurement] = []
            for name in chosen:
                figures = runners[name](str(number))
                _progress(
                    f"{name} {number}/{args.repeat}: "
                    + "; ".join(f"{m.key} {format_value(m.value, m.unit)}" for m in figures)
                )
                repeat += figures
            measurements += highest_per_key(repeat)
    finally:
        history.close()
    return document(
        collect(measurements),
        command=" ".join(["python -m benchmarks", *map(shlex.quote, argv)]),
        repeats=args.repeat,
        seconds=time.monotonic() - started,
        settings={"sizes": _sizes(args, chosen), "machine": _machine()},
    )


def _summarize_profiles(directory: Path) -> None:
    """Each profile's hotspots, to stderr and to DIR/summary.md."""
    text = "\n\n".join(render(raw.stem, summarize(raw)) for raw in sorted(directory.glob("*.txt")))
    (directory / "summary.md").write_text(text + "\n")
    _progress(text)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    if args.markdown is not None:
        results = json.loads(args.markdown.read_text())
        check_units(results)
        print(markdown(results))
        return 0
    try:
        if args.profile is not None:
            py_spy()  # fail now rather than after the first benchmark
        results = _run(args, argv)
        if args.profile is not None:
            _summarize_profiles(args.profile)
    except BenchmarkError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(markdown(results))
    _progress(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
