"""SUBGATE_PAYLOAD_RETENTION_DAYS and SUBGATE_RECORD_RETENTION_DAYS: read at start-up, and the
cutoffs the worker's retention uses; `subgate purge`'s own times."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from subgate.bootstrap import build
from subgate.cli import build_parser, cutoff_time
from subgate.settings import SettingsError, load_settings

PAYLOADS = "SUBGATE_PAYLOAD_RETENTION_DAYS"
RECORDS = "SUBGATE_RECORD_RETENTION_DAYS"


def days(name: str, raw: str | None) -> float:
    env = {} if raw is None else {name: raw}
    settings = load_settings(env, dotenv=None)
    return settings.payload_retention_days if name == PAYLOADS else settings.record_retention_days


def test_unset_is_90_days_of_payloads_and_400_of_records() -> None:
    assert (days(PAYLOADS, None), days(RECORDS, None)) == (90, 400)
    assert (days(PAYLOADS, " "), days(RECORDS, "")) == (90, 400)


@pytest.mark.parametrize(("raw", "value"), [("1", 1.0), ("30", 30.0), ("0.01", 0.01), ("36500", 36500.0)])
@pytest.mark.parametrize("name", [PAYLOADS, RECORDS])
def test_days_are_read_decimals_too(name: str, raw: str, value: float) -> None:
    assert days(name, raw) == value


@pytest.mark.parametrize("raw", ["0", "-1", "ninety", "nan", "inf", "36501", "1e9", "٩٠"])
@pytest.mark.parametrize("name", [PAYLOADS, RECORDS])
def test_anything_else_stops_the_start_naming_the_setting(name: str, raw: str) -> None:
    with pytest.raises(SettingsError, match=name):
        days(name, raw)


async def test_the_worker_purges_with_the_settings_periods(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "SUBGATE_DATA_DIR": str(tmp_path),
            PAYLOADS: "2",
            RECORDS: "0.5",
            "SUBGATE_REDIS_URL": "redis://:unused@127.0.0.1:1/0",  # never connected here
        },
        dotenv=None,
    )
    deps = await build(settings)
    try:
        retention = deps.worker.retention
        assert retention is not None
        cutoffs = retention.cutoffs()
        assert cutoffs.now - cutoffs.payloads == timedelta(days=2)
        assert cutoffs.now - cutoffs.records == timedelta(hours=12)
    finally:
        await deps.close()


@pytest.mark.parametrize(
    ("raw", "when"),
    [
        ("2025-01-31", datetime(2025, 1, 31, tzinfo=UTC)),
        ("2025-01-31T12:00:00Z", datetime(2025, 1, 31, 12, tzinfo=UTC)),
        ("2025-01-31T12:00:00+02:00", datetime(2025, 1, 31, 10, tzinfo=UTC)),
        ("2025-01-31T12:00:00", datetime(2025, 1, 31, 12, tzinfo=UTC)),  # no zone: UTC
        ("9999-12-31T23:59:59Z", datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)),
    ],
)
def test_purge_reads_iso_dates_and_times_in_utc(raw: str, when: datetime) -> None:
    args = build_parser().parse_args(["purge", "--payloads-before", raw, "--records-before", raw])

    assert cutoff_time(raw) == when
    assert (args.payloads_before, args.records_before) == (when, when)


@pytest.mark.parametrize(
    "raw", ["yesterday", "2025-13-01", "2025-01-31T25:00", "0001-01-01T00:00:00+01:00", "", "2025-01-31 Z"]
)
def test_purge_refuses_a_time_it_cannot_read_with_a_usage_error(
    raw: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        cutoff_time(raw)
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["purge", "--payloads-before", raw])

    assert exited.value.code == 2
    assert "--payloads-before" in capsys.readouterr().err
