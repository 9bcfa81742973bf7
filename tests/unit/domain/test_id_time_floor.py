"""Ids carry the time they were made: a time floor splits ids made before from those made after."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, strategies as st

from domain.shared.ids import _encode, id_time_floor, new_id

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def id_made_at(at: datetime, suffix: str = "0" * 16) -> str:
    millis = (at - EPOCH) // timedelta(milliseconds=1)
    return f"dlv_{_encode(millis, 10)}{suffix}"


@given(
    # hypothesis takes naive bounds and adds the zone itself.
    st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9999, 12, 31), timezones=st.just(UTC)),  # noqa: DTZ001
    st.integers(min_value=-10_000, max_value=10_000),
    st.sampled_from(["0" * 16, "z" * 16, "8e3k0000000000zz"]),
)
def test_the_floor_sorts_after_every_earlier_id_and_before_every_later_one(
    at: datetime, offset_ms: int, suffix: str
) -> None:
    floor = id_time_floor("dlv", at)
    made = at + timedelta(milliseconds=offset_ms)
    if made < EPOCH:
        return
    same_ms = (made - EPOCH) // timedelta(milliseconds=1) == (at - EPOCH) // timedelta(milliseconds=1)
    if made >= at or same_ms:
        assert id_made_at(made, suffix) > floor
    else:
        assert id_made_at(made, suffix) < floor


def test_times_outside_the_ids_range_are_clamped() -> None:
    assert id_time_floor("dlv", datetime(1, 1, 1, tzinfo=UTC)) == "dlv_0000000000"
    assert id_time_floor("dlv", datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)) < "dlv_zzzzzzzzzz"


def test_a_new_id_is_after_the_floor_of_a_moment_ago() -> None:
    before = datetime.now(UTC) - timedelta(milliseconds=1)
    assert new_id("dlv") > id_time_floor("dlv", before)
