"""Stored times are fixed-width ISO 8601 UTC text, so that string order is time order."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from integrations.stores.codecs import iso, parse_time

_REFERENCE = "%Y-%m-%dT%H:%M:%S.%fZ"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(2025, 1, 15, 12, 0, tzinfo=UTC), "2025-01-15T12:00:00.000000Z"),
        (datetime(2025, 1, 15, 12, 0, 0, 7, tzinfo=UTC), "2025-01-15T12:00:00.000007Z"),
        (
            datetime(2025, 1, 1, 1, 2, 3, 456789, tzinfo=timezone(timedelta(hours=2))),
            "2024-12-31T23:02:03.456789Z",
        ),
        (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), "9999-12-31T23:59:59.999999Z"),
    ],
)
def test_a_time_is_stored_in_utc_at_fixed_width(value: datetime, text: str) -> None:
    assert iso(value) == text
    assert parse_time(text) == value


def test_the_stored_text_is_what_strftime_writes_in_any_zone() -> None:
    pick = random.Random(20_251_130)
    zones = [UTC, ZoneInfo("UTC"), timezone(timedelta(hours=-7, minutes=-30)), ZoneInfo("Europe/Paris")]
    for _ in range(5_000):
        seconds = pick.uniform(datetime(1000, 1, 2, tzinfo=UTC).timestamp(), 253_402_200_000)
        value = datetime.fromtimestamp(seconds, UTC).replace(
            microsecond=pick.choice([0, pick.randrange(10**6)])
        )
        zoned = value.astimezone(pick.choice(zones))
        assert iso(zoned) == zoned.astimezone(UTC).strftime(_REFERENCE), zoned


def test_string_order_is_time_order() -> None:
    times = [
        datetime(2025, 3, 1, tzinfo=UTC) + timedelta(microseconds=step * 999_983) for step in range(-50, 50)
    ]
    assert sorted(times, key=iso) == sorted(times)


def test_every_year_of_the_calendar_is_written_in_four_digits_and_reads_back() -> None:
    for year in range(1, 10_000):
        value = datetime(year, 2, 28, 23, 59, 59, 999_999, tzinfo=UTC)
        text = iso(value)
        assert text == f"{year:04d}-02-28T23:59:59.999999Z", year
        assert parse_time(text) == value


def test_string_order_is_time_order_across_the_short_years() -> None:
    years = [1, 9, 10, 99, 100, 999, 1000, 1969, 1970, 9999]
    times = [datetime(year, 1, 1, tzinfo=UTC) for year in years]
    assert sorted(times, key=iso) == times


@pytest.mark.parametrize(
    ("written", "meant"),
    [
        ("999-12-31T00:00:00.000000Z", datetime(999, 12, 31, tzinfo=UTC)),
        ("1-01-01T00:00:00.000000Z", datetime(1, 1, 1, tzinfo=UTC)),
        ("50-06-15T12:30:00.000001Z", datetime(50, 6, 15, 12, 30, 0, 1, tzinfo=UTC)),
    ],
)
def test_a_short_year_written_by_an_earlier_release_still_reads(written: str, meant: datetime) -> None:
    assert parse_time(written) == meant
