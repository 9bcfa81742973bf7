"""SUBGATE_RATE_LIMIT: read with the standard library, understood the same way by `limits`."""

from __future__ import annotations

import pytest

from integrations.redis.ratelimit import parse_rate_limit
from subgate.settings import SettingsError, load_settings


def rate_limit(raw: str | None) -> str | None:
    env = {} if raw is None else {"SUBGATE_RATE_LIMIT": raw}
    return load_settings(env, dotenv=None).rate_limit


def test_unset_is_100_per_second() -> None:
    assert rate_limit(None) == "100/second"


@pytest.mark.parametrize("raw", ["0", "", "  "])
def test_zero_or_empty_turns_the_limit_off(raw: str) -> None:
    assert rate_limit(raw) is None


@pytest.mark.parametrize(
    ("raw", "amounts"),
    [
        ("100/second", [100]),
        (" 5 per minute ", [5]),
        ("100/second;5000/hour", [100, 5000]),
        ("10/2 minutes; 1000 per day", [10, 1000]),
        ("1/Month;1/year", [1, 1]),
    ],
)
def test_accepted_limits_are_the_ones_limits_reads(raw: str, amounts: list[int]) -> None:
    kept = rate_limit(raw)

    assert kept == raw.strip()
    assert [item.amount for item in parse_rate_limit(kept)] == amounts


@pytest.mark.parametrize(
    "raw",
    [
        "100",
        "fast",
        "0/second",
        "-1/second",
        "1.5/second",
        "100/fortnight",
        "100/second;",
        "100/second,5/day",
    ],
)
def test_anything_else_fails_start_up_naming_the_variable(raw: str) -> None:
    with pytest.raises(SettingsError, match="SUBGATE_RATE_LIMIT"):
        rate_limit(raw)


def test_the_adapter_refuses_a_zero_amount_it_would_otherwise_apply_to_everyone() -> None:
    with pytest.raises(ValueError, match="at least one request"):
        parse_rate_limit("0/second")
    assert parse_rate_limit("0") == ()
