"""SUBGATE_REDIS_URL: a configured Redis is always used with a password, and the password never shows."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from subgate.redis.url import problem_with, redacted, url_with_password
from subgate.settings import SettingsError, load_settings


def redis_url(raw: str | None) -> str | None:
    env = {} if raw is None else {"SUBGATE_REDIS_URL": raw}
    return load_settings(env, dotenv=None).redis_url


def test_unset_means_the_embedded_redis() -> None:
    assert redis_url(None) is None
    assert redis_url("") is None


@pytest.mark.parametrize(
    "raw",
    [
        "redis://:s3cret@redis:6379/0",
        "redis://default:s3cret@10.0.0.5:6379/2",
        "rediss://:s3cret@cache.example.com:6380/0",
        "REDIS://:s3cret@redis",
        "redis://:p%40ss%2Fword@[::1]:6379/0",
    ],
)
def test_a_url_with_a_password_is_kept_as_given(raw: str) -> None:
    assert redis_url(raw) == raw


@pytest.mark.parametrize(
    "raw",
    [
        "redis://redis:6379/0",
        "redis://user-only@redis:6379/0",
        "redis://:@redis:6379/0",
        "redis://redis:6379/0?password=s3cret",
        "rediss://redis:6380/0",
        "unix:///run/redis.sock",
        "http://:s3cret@redis:6379/0",
        "redis://:s3cret@:6379/0",
        "redis://:s3cret@redis:99999/0",
        "redis-server:6379",
    ],
)
def test_anything_else_stops_the_start_naming_the_setting_and_the_form(raw: str) -> None:
    with pytest.raises(SettingsError) as raised:
        redis_url(raw)

    message = str(raised.value)
    assert message.startswith("SUBGATE_REDIS_URL: ")
    assert "redis://:PASSWORD@host:6379/0" in message
    assert "rediss://" in message
    assert "s3cret" not in message


def test_the_settings_never_show_the_password() -> None:
    settings = load_settings({"SUBGATE_REDIS_URL": "redis://:s3cret@redis:6379/0"}, dotenv=None)

    assert "s3cret" not in repr(settings)
    assert "s3cret" not in str(settings)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cret@redis:6379/0", "redis://:***@redis:6379/0"),
        ("rediss://app:s3cret@redis/1", "rediss://app:***@redis/1"),
        ("redis://:s3@cr@et@redis:6379/0", "redis://:***@redis:6379/0"),
        ("redis://redis:6379/0?password=s3cret&db=1", "redis://redis:6379/0?password=***&db=1"),
        ("redis://redis:6379/0", "redis://redis:6379/0"),
    ],
)
def test_a_redacted_url_shows_where_not_the_password(url: str, shown: str) -> None:
    assert redacted(url) == shown


_HOSTS = st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z]{2,5})?", fullmatch=True)
_PASSWORDS = st.text(min_size=1, max_size=40).map(lambda text: "PW" + text)


@given(_HOSTS, st.integers(min_value=1, max_value=65535), _PASSWORDS)
def test_any_password_survives_the_url_and_never_shows(host: str, port: int, password: str) -> None:
    url = url_with_password(host, port, password)

    assert problem_with(url) is None
    assert "PW" not in redacted(url).split("@", 1)[0]
    assert redacted(url).endswith(f"@{host}:{port}/0")


@given(st.text(max_size=80))
def test_any_text_is_a_usable_url_or_a_stated_problem(raw: str) -> None:
    problem = problem_with(raw)
    assert problem is None or "redis://:PASSWORD@host:6379/0" in problem
    redacted(raw)  # never raises
