"""Identifiers: prefixed, unique, and sorted the way they were made."""

from __future__ import annotations

import re

from domain.shared.ids import new_id

ID_SHAPE = re.compile(r"msg_[0-9a-hjkmnp-tv-z]{26}")


def test_ids_carry_their_prefix_and_a_fixed_width_suffix() -> None:
    assert ID_SHAPE.fullmatch(new_id("msg"))


def test_ids_are_unique() -> None:
    ids = [new_id("msg") for _ in range(2000)]
    assert len(set(ids)) == len(ids)


def test_ids_sort_in_creation_order() -> None:
    # The module promises "ordering by id follows creation order"; the outbox relies on it to
    # hand out the messages one input caused (say activated, then payment.succeeded) in order.
    ids = [new_id("msg") for _ in range(500)]
    assert ids == sorted(ids)
