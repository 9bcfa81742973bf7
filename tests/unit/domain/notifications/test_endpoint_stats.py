"""Endpoint health by the hour: counting attempts, and reading a day back from the counters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, strategies as st

from domain.notifications.model import Attempt
from domain.notifications.stats import (
    DURATION_BOUNDS_MS,
    EndpointHealth,
    EndpointHour,
    HourCounts,
    day_window,
    duration_bucket,
    health_of,
    hour_id,
)

NOW = datetime(2025, 1, 15, 12, 30, tzinfo=UTC)


def attempt(status: int | None, ms: int = 40, at: datetime = NOW, error: str | None = None) -> Attempt:
    return Attempt(at=at, status_code=status, duration_ms=ms, error=error)


def counts(*attempts: Attempt) -> HourCounts:
    total = HourCounts()
    for one in attempts:
        total = total.counted(one)
    return total


def test_each_attempt_counts_once_under_its_outcome() -> None:
    counted = counts(
        attempt(200), attempt(204), attempt(503, error="HTTP 503"), attempt(None, error="timed out")
    )

    assert (counted.succeeded, counted.failed, counted.unreachable) == (2, 1, 1)
    assert counted.attempts == 4
    assert sum(counted.durations) == 4


def test_the_last_error_is_the_latest_whatever_the_order_of_adding() -> None:
    early = counts(attempt(500, at=NOW - timedelta(minutes=5), error="HTTP 500"))
    late = counts(attempt(None, at=NOW, error="connection refused"))

    assert early.plus(late).last_error == "connection refused"
    assert late.plus(early).last_error == "connection refused"
    assert counts(attempt(200)).last_error is None


@given(st.integers(min_value=0, max_value=10**7))
def test_every_duration_falls_in_exactly_the_bucket_of_its_bounds(ms: int) -> None:
    bucket = duration_bucket(ms)
    bounds = (0, *DURATION_BOUNDS_MS)
    if bucket < len(DURATION_BOUNDS_MS):
        assert ms <= DURATION_BOUNDS_MS[bucket]
    assert bucket == 0 or ms > bounds[bucket]


def test_percentiles_are_read_from_the_histogram() -> None:
    fast = [attempt(200, ms=20)] * 90
    slow = [attempt(200, ms=900)] * 10
    health = health_of(["ep_1"], [hour("ep_1", NOW, counts(*fast, *slow))], NOW)[0]

    assert health.percentile_ms(0.5) == 25
    assert health.percentile_ms(0.95) == 1000
    assert health.success_rate == 1.0


def hour(endpoint_id: str, at: datetime, counted: HourCounts, writer: str = "wrk_1") -> EndpointHour:
    start = at.replace(minute=0, second=0, microsecond=0)
    return EndpointHour(
        id=hour_id(endpoint_id, start, writer),
        merchant_id="mer_1",
        endpoint_id=endpoint_id,
        hour=start,
        writer=writer,
        counts=counted,
    )


def test_a_day_is_24_hours_ending_with_the_current_one_and_workers_add_up() -> None:
    stored = [
        hour("ep_1", NOW, counts(attempt(200)), "wrk_1"),
        hour("ep_1", NOW, counts(attempt(500)), "wrk_2"),
        hour("ep_1", NOW - timedelta(hours=23), counts(attempt(200))),
        hour("ep_1", NOW - timedelta(hours=24), counts(attempt(200))),  # a day ago: out
        hour("ep_2", NOW, counts(attempt(200))),
    ]

    [health] = health_of(["ep_1"], stored, NOW)

    assert [start for start, _ in health.hours] == list(day_window(NOW))
    assert health.hours[-1][0] == datetime(2025, 1, 15, 12, tzinfo=UTC)
    assert health.hours[-1][1].attempts == 2
    assert health.hours[0][1].attempts == 1
    assert health.total.attempts == 3
    assert health.success_rate == 2 / 3


def test_an_endpoint_without_attempts_has_no_rate_and_no_percentiles() -> None:
    [health] = health_of(["ep_1"], [], NOW)

    assert isinstance(health, EndpointHealth)
    assert health.success_rate is None
    assert health.percentile_ms(0.5) is None
    assert len(health.hours) == 24
