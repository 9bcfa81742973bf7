"""Pages: the documented default and bounds, and `has_more` exactly when a row is left over."""

from __future__ import annotations

import pytest

from domain.shared.errors import ValidationFailed
from domain.shared.pagination import PageRequest, page_from_overfetch


def test_a_page_request_defaults_to_twenty_from_the_start() -> None:
    assert PageRequest() == PageRequest(limit=20, starting_after=None)


@pytest.mark.parametrize("limit", [1, 100])
def test_the_bounds_are_accepted(limit: int) -> None:
    assert PageRequest(limit=limit).limit == limit


@pytest.mark.parametrize("limit", [0, -1, 101])
def test_a_limit_out_of_bounds_names_the_field_and_the_range(limit: int) -> None:
    with pytest.raises(ValidationFailed) as refused:
        PageRequest(limit=limit)

    assert refused.value.field == "limit"
    assert refused.value.message == "limit: must be between 1 and 100"


def test_a_full_page_with_nothing_after_it_has_no_more() -> None:
    page = page_from_overfetch(["a", "b", "c"], 3)

    assert page.items == ("a", "b", "c")
    assert page.has_more is False


def test_the_overfetched_row_is_dropped_and_says_more_exist() -> None:
    page = page_from_overfetch(["a", "b", "c", "d"], 3)

    assert page.items == ("a", "b", "c")
    assert page.has_more is True


def test_a_short_page_has_no_more() -> None:
    page = page_from_overfetch(["a"], 3)

    assert page.items == ("a",)
    assert page.has_more is False
