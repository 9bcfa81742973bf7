"""The benchmarks run end to end on tiny inputs and report every figure. Speed targets live in
the benchmark output only: nothing here asserts how fast anything is."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks.__main__ import main
from benchmarks.profiles import summarize
from benchmarks.results import Measurement, Target, collect, document, highest_per_key, markdown

FIGURES = {
    "ingest.bare.rate",
    "ingest.bare.p50",
    "ingest.bare.p99",
    "ingest.serve.rate",
    "ingest.serve.ratio",
    "ingest.serve.p50",
    "ingest.serve.p99",
    "ingest.worker.rate",
    "ingest.worker.ratio",
    "ingest.worker.p50",
    "ingest.worker.p99",
    "ingest.bare.cpu",
    "ingest.serve.cpu",
    "ingest.worker.serve_cpu",
    "ingest.worker.apply_cpu",
    "ingest.worker.backlog",
    "delivery.noop.rate",
    "delivery.worker.rate",
    "delivery.worker.ratio",
    "delivery.worker.spawn_to_done",
    "delivery.worker.cpu",
    "delivery.single.rate",
    "e2e.offered",
    "e2e.p50",
    "e2e.p99",
    "e2e.max",
    "e2e.answer.p99",
    "e2e.lateness",
    "dev.rate",
    "dev.ingest",
    "dev.cpu",
    "dev.p99",
    "workers.one.rate",
    "workers.two.rate",
    "workers.scaling",
    "workers.one.cpu",
    "workers.two.cpu",
    "workers.per_core",
    "workers.two.cores",
    "rss.serve",
    "rss.worker",
    "rss.dev",
}
# Figures with a target: the ratios and rates the roadmap sets, the latency bound and memory.
TARGETED = {
    "ingest.worker.ratio",
    "delivery.worker.rate",
    "delivery.worker.ratio",
    "delivery.single.rate",
    "e2e.p99",
    "dev.rate",
    "rss.serve",
    "rss.worker",
    "rss.dev",
}
TINY = [
    "--repeat", "1", "--events", "40", "--concurrency", "4", "--deliveries", "40",
    "--single-deliveries", "10", "--rate", "50", "--seconds", "0.4", "--dev-events", "20",
    "--worker-events", "600",
]  # fmt: skip


def test_every_benchmark_runs_and_reports_every_figure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results_file = tmp_path / "results.json"

    assert main([*TINY, "--json", str(results_file)]) == 0

    results: dict[str, Any] = json.loads(results_file.read_text())
    figures = {figure["key"]: figure for figure in results["figures"]}
    assert set(figures) == FIGURES
    for key, figure in figures.items():
        assert len(figure["samples"]) == 1, key
        assert figure["median"] > 0 if figure["unit"] == "/s" else figure["median"] >= 0, key
        assert (figure["target"] is not None) == (key in TARGETED), key
        assert isinstance(figure["met"], bool) == (key in TARGETED), key
    # stdout is the table, and the same table is made again from the saved file alone.
    table = capsys.readouterr().out.strip()
    assert table == markdown(results)
    assert "| Figure | Median | Runs | Target | Met |" in table
    assert main(["--markdown", str(results_file)]) == 0
    assert capsys.readouterr().out.strip() == table


def test_medians_targets_and_the_table() -> None:
    target = Target(">=", 1000.0, "≥ 1,000/s")
    runs = [
        [Measurement("rate", "Rate (events/s)", "/s", value, target), Measurement("rss.x", "RSS", "MB", mb)]
        for value, mb in ((900.0, 80.0), (1200.0, 90.0), (1100.0, 70.0))
    ]
    # Within one repeat, two reports of one peak keep the highest, and memory goes last.
    repeat = highest_per_key([Measurement("rss.x", "RSS", "MB", 60.0), *runs[0]])
    assert [(m.key, m.value) for m in repeat] == [("rate", 900.0), ("rss.x", 80.0)]

    figures = collect([repeat[0], repeat[1], *runs[1], *runs[2]])
    assert [(f.key, f.samples, f.median, f.met) for f in figures] == [
        ("rate", (900.0, 1200.0, 1100.0), 1100.0, True),
        ("rss.x", (80.0, 90.0, 70.0), 80.0, None),
    ]
    table = markdown(
        document(figures, command="python -m benchmarks", repeats=3, seconds=1.0, settings=_SETTINGS)
    )
    assert "| Rate (events/s) | 1,100 | 900, 1,200, 1,100 | ≥ 1,000/s | yes |" in table
    assert "| RSS (MB) | 80 | 80, 90, 70 |  |  |" in table
    assert "Targets missed" not in table

    missed = collect([Measurement("rate", "Rate (events/s)", "/s", 999.0, target)])
    assert "Targets missed: Rate (events/s)." in markdown(
        document(missed, command="python -m benchmarks", repeats=1, seconds=1.0, settings=_SETTINGS)
    )


_SETTINGS = {"sizes": "tiny", "machine": "test"}


def test_profile_summary_ranks_the_event_loop_threads_functions(tmp_path: Path) -> None:
    raw = tmp_path / "serve.txt"
    loop = "thread (1): MainThread;<module> (subgate/__main__.py:3);Runner.run (asyncio/runners.py:118)"
    raw.write_text(
        f"{loop};handle (gateway/inbound.py:86);insert (integrations/stores/sqlite/store.py:10) 6\n"
        f"{loop};handle (gateway/inbound.py:90) 2\n"
        f"{loop} 2\n"
        "thread (2): ThreadPoolExecutor-0_0;_worker (concurrent/futures/thread.py:81) 10\n"
    )

    summary = summarize(raw)

    assert summary.samples == 20
    assert summary.main_thread == 0.5
    assert [(spot.function, spot.share) for spot in summary.self_time] == [
        ("insert (integrations/stores/sqlite/store.py)", 0.6),
        ("handle (gateway/inbound.py)", 0.2),
        ("(the event loop itself: uvloop, I/O, callbacks in C)", 0.2),
    ]
    assert summary.main_total[0].function == "handle (gateway/inbound.py)"
    assert summary.main_total[0].share == 0.8


def test_the_end_to_end_during_a_purge_reports_its_figures(tmp_path: Path) -> None:
    results_file = tmp_path / "results.json"
    tiny = ["--repeat", "1", "--rate", "50", "--seconds", "0.4", "--purge-history", "300"]

    assert main([*tiny, "--only", "purge", "--json", str(results_file)]) == 0

    figures = {f["key"]: f for f in json.loads(results_file.read_text())["figures"]}
    assert set(figures) == {
        "purge.e2e.p99.steady",
        "purge.e2e.p99.purging",
        "purge.e2e.p99.ratio",
        "purge.items",
        "purge.batch.max",
        "purge.batch.median",
    }
    assert figures["purge.items"]["median"] > 0  # the worker purged the history it found
    assert figures["purge.e2e.p99.ratio"]["target"] is not None
