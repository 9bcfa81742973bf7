"""SUBGATE_PAST_DUE_GRACE_DAYS: read at start-up, and the grace period the scheduler uses."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from subgate.bootstrap import build
from subgate.settings import SettingsError, load_settings


def grace(raw: str | None) -> int:
    env = {} if raw is None else {"SUBGATE_PAST_DUE_GRACE_DAYS": raw}
    return load_settings(env, dotenv=None).past_due_grace_days


def test_unset_is_seven_days() -> None:
    assert grace(None) == 7
    assert grace("") == 7


@pytest.mark.parametrize(("raw", "days"), [("0", 0), ("3", 3), ("3650", 3650)])
def test_whole_days_are_read(raw: str, days: int) -> None:
    assert grace(raw) == days


@pytest.mark.parametrize("raw", ["-1", "1.5", "seven", "3651"])
def test_anything_else_stops_the_start_naming_the_setting(raw: str) -> None:
    with pytest.raises(SettingsError, match="SUBGATE_PAST_DUE_GRACE_DAYS"):
        grace(raw)


async def test_the_scheduler_and_the_api_get_the_grace_period(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "SUBGATE_DATA_DIR": str(tmp_path),
            "SUBGATE_PAST_DUE_GRACE_DAYS": "3",
            "SUBGATE_REDIS_URL": "redis://:unused@127.0.0.1:1/0",  # never connected here
        },
        dotenv=None,
    )
    deps = await build(settings)
    try:
        internal, external = deps.worker.subscriptions, deps.gateway.subscriptions
        assert internal._txn.timing.past_due_grace == timedelta(days=3)  # what was wired
        assert external._txn.timing.past_due_grace == timedelta(days=3)  # the same timing
    finally:
        await deps.close()
