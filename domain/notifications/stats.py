"""Endpoint health by the hour: attempts by outcome and their durations, counted as they are recorded.

A merchant's last day is read from these counters, about 24 small documents per endpoint,
never from the deliveries themselves (a busy merchant has millions). Each batch of attempt
records adds its counts in the same transaction that records the attempts, so the counters
and the deliveries never disagree. Counters are kept per hour, endpoint and recording worker:
one worker records its batches one after another, so no two transactions ever write the same
counter document at once (on a store where concurrent writes to one document conflict, a busy
endpoint would otherwise make recording fail).

Durations go into a fixed histogram; p50 and p95 are read from it as the upper bound of the
bucket the quantile falls in.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Final, Protocol

from domain.notifications.model import Attempt

HOUR: Final = timedelta(hours=1)
DAY_HOURS: Final = 24
# Upper bounds (ms) of the duration buckets; one more bucket holds everything slower.
DURATION_BOUNDS_MS: Final = (25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000)
SUCCESS_CLASS: Final = 2
MAX_ERROR_LENGTH: Final = 300


class Outcome(enum.StrEnum):
    SUCCEEDED = "succeeded"  # any 2xx
    FAILED = "failed"  # another HTTP answer
    UNREACHABLE = "unreachable"  # no answer: refused, timed out, no attempt possible


def outcome_of(attempt: Attempt) -> Outcome:
    if attempt.status_code is None:
        return Outcome.UNREACHABLE
    return Outcome.SUCCEEDED if attempt.status_code // 100 == SUCCESS_CLASS else Outcome.FAILED


def hour_of(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def duration_bucket(duration_ms: int) -> int:
    return next(
        (i for i, bound in enumerate(DURATION_BOUNDS_MS) if duration_ms <= bound), len(DURATION_BOUNDS_MS)
    )


def _added(left: Sequence[int], right: Sequence[int]) -> tuple[int, ...]:
    size = max(len(left), len(right))
    return tuple((left[i] if i < len(left) else 0) + (right[i] if i < len(right) else 0) for i in range(size))


@dataclass(frozen=True, slots=True, kw_only=True)
class HourCounts:
    succeeded: int = 0
    failed: int = 0
    unreachable: int = 0
    durations: tuple[int, ...] = ()  # attempts per bucket of DURATION_BOUNDS_MS (plus the overflow)
    last_error: str | None = None
    last_error_at: datetime | None = None

    @property
    def attempts(self) -> int:
        return self.succeeded + self.failed + self.unreachable

    def plus(self, other: HourCounts) -> HourCounts:
        latest = self
        if other.last_error_at is not None and (
            self.last_error_at is None or other.last_error_at >= self.last_error_at
        ):
            latest = other
        return HourCounts(
            succeeded=self.succeeded + other.succeeded,
            failed=self.failed + other.failed,
            unreachable=self.unreachable + other.unreachable,
            durations=_added(self.durations, other.durations),
            last_error=latest.last_error,
            last_error_at=latest.last_error_at,
        )

    def counted(self, attempt: Attempt) -> HourCounts:
        outcome = outcome_of(attempt)
        bucket = duration_bucket(attempt.duration_ms)
        one = HourCounts(
            succeeded=int(outcome == Outcome.SUCCEEDED),
            failed=int(outcome == Outcome.FAILED),
            unreachable=int(outcome == Outcome.UNREACHABLE),
            durations=tuple(int(i == bucket) for i in range(len(DURATION_BOUNDS_MS) + 1)),
            last_error=None if outcome == Outcome.SUCCEEDED else _error_text(attempt),
            last_error_at=None if outcome == Outcome.SUCCEEDED else attempt.at,
        )
        return self.plus(one)


def _error_text(attempt: Attempt) -> str:
    text = attempt.error or (f"HTTP {attempt.status_code}" if attempt.status_code else "no response")
    return text[:MAX_ERROR_LENGTH]


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointHour:
    """One worker's counts of one endpoint's attempts within one hour (see the module docstring)."""

    id: str
    merchant_id: str
    endpoint_id: str
    hour: datetime
    writer: str
    counts: HourCounts = field(default_factory=HourCounts)
    version: int = 0


def hour_id(endpoint_id: str, hour: datetime, writer: str) -> str:
    return f"{endpoint_id}|{hour.strftime('%Y%m%d%H')}|{writer}"


class EndpointStatsRepository(Protocol):
    async def get(self, hour_id: str) -> EndpointHour | None: ...

    async def add(self, hour: EndpointHour) -> None: ...

    async def update(self, hour: EndpointHour) -> EndpointHour:
        """Compare-and-set on `version`; raises ConcurrencyConflict."""
        ...

    async def since(self, merchant_id: str, start: datetime) -> Sequence[EndpointHour]:
        """The merchant's counters of the hours starting at or after `start`."""
        ...


@dataclass
class AttemptTally:
    """The counts of one record batch, added to the stored counters at its end."""

    writer: str
    pending: dict[tuple[str, str, datetime], HourCounts] = field(default_factory=dict)

    def count(self, merchant_id: str, endpoint_id: str, attempt: Attempt) -> None:
        key = (merchant_id, endpoint_id, hour_of(attempt.at))
        self.pending[key] = self.pending.get(key, HourCounts()).counted(attempt)

    async def store(self, repository: EndpointStatsRepository) -> None:
        for (merchant_id, endpoint_id, hour), counts in self.pending.items():
            doc_id = hour_id(endpoint_id, hour, self.writer)
            stored = await repository.get(doc_id)
            if stored is None:
                fresh = EndpointHour(
                    id=doc_id,
                    merchant_id=merchant_id,
                    endpoint_id=endpoint_id,
                    hour=hour,
                    writer=self.writer,
                    counts=counts,
                )
                await repository.add(fresh)
            else:
                await repository.update(replace(stored, counts=stored.counts.plus(counts)))
        self.pending.clear()


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointHealth:
    """One endpoint's last day: `hours` oldest first, the current hour last."""

    endpoint_id: str
    hours: tuple[tuple[datetime, HourCounts], ...]
    total: HourCounts

    @property
    def success_rate(self) -> float | None:
        attempts = self.total.attempts
        return None if attempts == 0 else self.total.succeeded / attempts

    def percentile_ms(self, share: float) -> int | None:
        """The upper bound of the duration bucket holding the `share` quantile (None: no attempts;
        the overflow bucket reads as its lower bound)."""
        histogram = self.total.durations
        total = sum(histogram)
        if total == 0:
            return None
        wanted = share * total
        seen = 0
        for index, count in enumerate(histogram):
            seen += count
            if seen >= wanted and count:
                return DURATION_BOUNDS_MS[min(index, len(DURATION_BOUNDS_MS) - 1)]
        return DURATION_BOUNDS_MS[-1]


def day_window(now: datetime) -> tuple[datetime, ...]:
    """The starts of the last 24 hours, the current one last."""
    current = hour_of(now)
    return tuple(current - HOUR * back for back in range(DAY_HOURS - 1, -1, -1))


def health_of(
    endpoint_ids: Iterable[str], stored: Iterable[EndpointHour], now: datetime
) -> list[EndpointHealth]:
    window = day_window(now)
    first = window[0]
    by_hour: dict[tuple[str, datetime], HourCounts] = {}
    for row in stored:
        if row.hour < first:
            continue
        key = (row.endpoint_id, hour_of(row.hour))
        by_hour[key] = by_hour.get(key, HourCounts()).plus(row.counts)
    found = []
    for endpoint_id in endpoint_ids:
        hours = tuple((start, by_hour.get((endpoint_id, start), HourCounts())) for start in window)
        total = HourCounts()
        for _, counts in hours:
            total = total.plus(counts)
        found.append(EndpointHealth(endpoint_id=endpoint_id, hours=hours, total=total))
    return found
