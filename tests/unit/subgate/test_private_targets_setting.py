"""SUBGATE_ALLOW_PRIVATE_TARGETS: `dev` allows private and loopback targets unless told not to;
`serve` and `worker` refuse them unless told to. `dev` says which when it starts."""

from __future__ import annotations

import pytest

from subgate.commands.service import dev_targets_line
from subgate.settings import SettingsError, load_settings


@pytest.mark.parametrize(
    ("value", "dev", "allowed"),
    [
        (None, True, True),
        ("", True, True),
        ("false", True, False),
        ("0", True, False),
        ("true", True, True),
        (None, False, False),
        ("", False, False),
        ("false", False, False),
        ("true", False, True),
        ("yes", False, True),
    ],
)
def test_dev_allows_private_targets_by_default_and_the_other_commands_do_not(
    value: str | None, dev: bool, allowed: bool
) -> None:
    env = {} if value is None else {"SUBGATE_ALLOW_PRIVATE_TARGETS": value}

    assert load_settings(env, dev=dev, dotenv=None).allow_private_targets is allowed


@pytest.mark.parametrize("dev", [True, False])
def test_a_value_that_is_not_a_boolean_is_a_configuration_error(dev: bool) -> None:
    with pytest.raises(SettingsError, match="SUBGATE_ALLOW_PRIVATE_TARGETS: expected true or false"):
        load_settings({"SUBGATE_ALLOW_PRIVATE_TARGETS": "maybe"}, dev=dev, dotenv=None)


def test_dev_says_whether_webhooks_may_go_to_this_machines_network() -> None:
    allowing = dev_targets_line(load_settings({}, dev=True, dotenv=None))
    refusing = dev_targets_line(
        load_settings({"SUBGATE_ALLOW_PRIVATE_TARGETS": "false"}, dev=True, dotenv=None)
    )

    assert allowing.startswith("development mode: webhooks may go to loopback and private addresses")
    assert "SUBGATE_ALLOW_PRIVATE_TARGETS=true" in allowing
    assert refusing.startswith("development mode: webhooks to loopback and private addresses refused")
