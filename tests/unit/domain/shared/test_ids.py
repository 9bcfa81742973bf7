"""Identifiers: prefixed, unique, and sorted the way they were made."""

from __future__ import annotations

import re
import time

from hypothesis import given, strategies as st

from domain.shared.ids import _encode, new_id

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
