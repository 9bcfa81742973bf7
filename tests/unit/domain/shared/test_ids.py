"""Identifiers: prefixed, unique, and sorted the way they were made."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

from hypothesis import given, strategies as st

from domain.shared.ids import _encode, id_time_floor, new_id

ID_SHAPE = re.compile(r"msgsg_[0-9a-hjkmnp-tv-z]{26}")


def test_ids_carry_their_kind_marked_as_subgate_s_and_a_fixed_width_suffix() -> None:
    assert ID_SHAPE.fullmatch(new_id("msg"))


def test_ids_are_unique() -> None:
    ids = [new_id("msg") for _ in range(2000)]
    assert len(set(ids)) == len(ids)


def test_ids_sort_in_creation_order() -> None:
    # The module promises "ordering by id follows creation order"; the outbox relies on it to
    # hand out the messages one input caused (say activated, then payment.succeeded) in order.
    ids = [new_id("msg") for _ in range(500)]
    assert ids == sorted(ids)


# What Stripe, Paddle and svix start their ids and secrets with: none of ours may.
PROVIDER_PREFIXES = (
    *("evt_", "sub_", "cus_", "plan_", "price_", "prod_", "in_", "si_", "cs_", "whsec_"),
    *("ctm_", "pri_", "pro_", "txn_", "ntf_"),
    *("msg_", "ep_", "app_"),
)
KINDS = ("evt", "sub", "cus", "plan", "msg", "ep", "dlv", "dl", "mer", "conn", "idk", "wrk", "req")


def test_no_id_of_ours_starts_like_a_provider_s() -> None:
    for kind in KINDS:
        made = new_id(kind)
        assert not made.startswith(PROVIDER_PREFIXES), made


def test_ids_made_now_sort_after_those_of_earlier_releases() -> None:
    # Earlier releases made `sub_<suffix>`: a cursor from then must still find what came since.
    earlier = "sub_" + "z" * 26
    assert all(new_id(kind) > earlier.replace("sub", kind) for kind in KINDS)


def _digits(value: int, length: int) -> str:
    """The reference: base 32 one digit at a time, in Crockford's lower-case alphabet."""
    alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
    return "".join(alphabet[(value // 32**place) % 32] for place in reversed(range(length)))


@given(value=st.integers(min_value=0, max_value=2**130), length=st.integers(min_value=0, max_value=27))
def test_the_suffix_is_base_32_digit_for_digit(value: int, length: int) -> None:
    assert _encode(value, length) == _digits(value, length)


def test_the_time_part_is_the_millisecond_of_creation() -> None:
    before = time.time_ns() // 1_000_000
    made = new_id("msg").removeprefix("msgsg_")[:10]
    after = time.time_ns() // 1_000_000
    assert _digits(before, 10) <= made <= _digits(after, 10)


# A time floor splits the ids made before a moment from those made at or after it.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def id_made_at(at: datetime, suffix: str = "0" * 16) -> str:
    millis = (at - EPOCH) // timedelta(milliseconds=1)
    return f"dlvsg_{_encode(millis, 10)}{suffix}"


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
    assert id_time_floor("dlv", datetime(1, 1, 1, tzinfo=UTC)) == "dlvsg_0000000000"
    assert id_time_floor("dlv", datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)) < "dlvsg_zzzzzzzzzz"


def test_a_new_id_is_after_the_floor_of_a_moment_ago() -> None:
    before = datetime.now(UTC) - timedelta(milliseconds=1)
    assert new_id("dlv") > id_time_floor("dlv", before)


def test_ids_of_earlier_releases_sort_below_every_floor() -> None:
    # They had no `sg` mark: a time range cannot place them, and none is read as made after it.
    assert f"dlv_{'z' * 26}" < id_time_floor("dlv", datetime(1970, 1, 1, tzinfo=UTC))
