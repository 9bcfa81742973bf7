"""The settings that bound what one client may cost: failed authentications per address, and the
time a request's headers and body may take to arrive."""

from __future__ import annotations

import pytest

from integrations.redis.ratelimit import parse_rate_limit
from subgate.settings import Settings, SettingsError, load_settings


def settings(**env: str) -> Settings:
    return load_settings(env, dotenv=None)


def test_defaults() -> None:
    loaded = settings()

    assert loaded.auth_failure_limit == "10/minute"
    assert (loaded.header_timeout_seconds, loaded.body_timeout_seconds) == (10.0, 30.0)


@pytest.mark.parametrize("raw", ["0", "", " "])
def test_zero_or_empty_turns_the_failure_limit_off(raw: str) -> None:
    assert settings(SUBGATE_AUTH_FAILURE_LIMIT=raw).auth_failure_limit is None


def test_a_failure_limit_is_read_as_limits_reads_it() -> None:
    kept = settings(SUBGATE_AUTH_FAILURE_LIMIT="5/minute;50/day").auth_failure_limit

    assert kept is not None
    assert [item.amount for item in parse_rate_limit(kept)] == [5, 50]


@pytest.mark.parametrize("raw", ["10", "0/minute", "ten/minute", "10/fortnight", "\uff11\uff10/minute"])
def test_a_malformed_failure_limit_fails_start_up_naming_the_variable(raw: str) -> None:
    # The last one is written in fullwidth digits, which int() would read as 10.
    with pytest.raises(SettingsError, match="SUBGATE_AUTH_FAILURE_LIMIT"):
        settings(SUBGATE_AUTH_FAILURE_LIMIT=raw)


def test_timeouts_are_read_in_seconds() -> None:
    loaded = settings(SUBGATE_HEADER_TIMEOUT_SECONDS="2.5", SUBGATE_BODY_TIMEOUT_SECONDS="60")

    assert (loaded.header_timeout_seconds, loaded.body_timeout_seconds) == (2.5, 60.0)


@pytest.mark.parametrize("name", ["SUBGATE_HEADER_TIMEOUT_SECONDS", "SUBGATE_BODY_TIMEOUT_SECONDS"])
@pytest.mark.parametrize("raw", ["0", "-1", "86400", "nan", "inf", "soon"])
def test_a_timeout_outside_zero_to_a_day_fails_start_up_naming_the_variable(name: str, raw: str) -> None:
    with pytest.raises(SettingsError, match=name):
        settings(**{name: raw})
