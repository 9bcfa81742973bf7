"""Provider times: the one reader every adapter uses (`integrations.providers.readers.provider_time`).

A time is unix seconds or ISO 8601 text with a zone, and comes out as an aware UTC datetime
from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z. Anything else, an offset that overflows on
its way to UTC included, is a PayloadError naming the field; nothing else ever escapes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from integrations.providers.interface import PayloadError
from integrations.providers.readers import EARLIEST, LATEST, provider_time
from integrations.stores.codecs import iso, parse_time

FIELD = "current_period_end"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, EARLIEST),
        (253_402_300_799, LATEST),
        ("1970-01-01T00:00:00Z", EARLIEST),
        ("9999-12-31T23:59:59Z", LATEST),
        ("9999-12-31T23:59:59+00:00", LATEST),
        ("1970-01-01T01:00:00+01:00", EARLIEST),
        ("2025-06-01T12:00:00.123456-07:00", datetime(2025, 6, 1, 19, 0, 0, 123_456, tzinfo=UTC)),
        (None, None),
    ],
)
def test_a_time_in_the_range_reads_as_utc(value: Any, expected: datetime | None) -> None:
    read = provider_time(value, FIELD)
    assert read == expected
    assert read is None or read.tzinfo is UTC


@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01T00:00:00+01:00",  # before the first day of the calendar once in UTC
        "9999-12-31T23:59:59-01:00",  # after its last day
        "0001-01-01T00:00:00+23:59",
        "9999-12-31T23:59:59.999999-23:59",
    ],
)
def test_an_offset_that_overflows_on_conversion_is_refused(value: str) -> None:
    with pytest.raises(PayloadError, match=f"^{FIELD} is outside the times accepted"):
        provider_time(value, FIELD)


@pytest.mark.parametrize(
    "value",
    [
        -1,
        253_402_300_800,
        "0999-12-31T00:00:00Z",
        "1969-12-31T23:59:59.999999Z",
        "1970-01-01T00:59:59+01:00",
        "9999-12-31T23:59:59.000001Z",
        "0001-01-01T00:00:00Z",
    ],
)
def test_a_time_outside_the_range_is_refused(value: Any) -> None:
    with pytest.raises(PayloadError, match=f"^{FIELD} is outside the times accepted"):
        provider_time(value, FIELD)


@pytest.mark.parametrize(
    "value",
    [True, 1.5, "2025-06-01T12:00:00", "yesterday", "", "2025-06-01T12:00:00Z" + " " * 40, [], {}],
    ids=repr,
)
def test_what_is_no_time_is_refused_naming_the_field(value: Any) -> None:
    with pytest.raises(PayloadError, match=f"^{FIELD} is not "):
        provider_time(value, FIELD)


def test_each_provider_reads_only_its_own_forms() -> None:
    with pytest.raises(PayloadError, match="is not an ISO 8601 time with a zone"):
        provider_time(1_700_000_000, FIELD, unix=False)
    with pytest.raises(PayloadError, match="is not a unix timestamp"):
        provider_time("2025-06-01T12:00:00Z", FIELD, text=False)


zones = st.builds(
    lambda minutes: timezone(timedelta(minutes=minutes)),
    st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1),
)
any_text = st.one_of(
    st.datetimes(timezones=zones).map(datetime.isoformat),
    st.datetimes(timezones=zones).map(lambda t: t.isoformat(timespec="seconds").replace("+00:00", "Z")),
    st.text(max_size=45),
)


@settings(max_examples=500)
@given(value=st.one_of(any_text, st.integers(), st.none(), st.floats(), st.booleans()))
def test_a_time_is_either_refused_or_in_range_and_stored_without_loss(value: Any) -> None:
    try:
        read = provider_time(value, FIELD)
    except PayloadError as error:
        refusal: PayloadError | None = error
        read = None
    else:
        refusal = None
    assert refusal is None or str(refusal).startswith(FIELD)
    if read is not None:
        assert read.tzinfo is UTC
        assert EARLIEST <= read <= LATEST
        assert parse_time(iso(read)) == read
