"""The parser: every command reaches a real function, every argument says what it is for, and
`dev --help` lists every setting, `serve` and `worker` theirs."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

import subgate.settings
from subgate.cli import LazyCommand, build_parser
from subgate.commands.settings_help import SETTINGS, read_by, settings_epilog
from subgate.settings import load_settings

COMMAND_LINES = [
    ["dev"],
    ["serve"],
    ["worker"],
    ["migrate"],
    ["merchants", "create", "Acme"],
    ["merchants", "rotate-key", "mer_1"],
    ["dlq", "list", "--kind", "email", "--json"],
    ["dlq", "replay", "--all"],
    ["secrets", "new-key"],
    ["secrets", "status"],
    ["secrets", "reencrypt"],
    ["events", "send", "stripe", "invoice.paid", "--connection", "conn_1", "--subscription", "sub_1"],
    ["events", "send", "polar", "order.paid", "--connection", "conn_1", "--subscription", "s-1"],
    ["receive", "--port", "9001", "--secret", "whsec_x"],
]


@pytest.mark.parametrize("argv", COMMAND_LINES, ids=" ".join)
def test_every_command_resolves_to_a_function(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)

    assert isinstance(args.run, LazyCommand)
    assert callable(args.run.resolve())


def _help(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([*argv, "--help"])
    assert exited.value.code == 0
    return capsys.readouterr().out


def _listed(shown: str) -> list[str]:
    return re.findall(r"^  (SUBGATE_[A-Z_]+)=", shown, re.MULTILINE)


@pytest.mark.parametrize("command", ["dev", "serve", "worker"])
def test_service_help_lists_the_settings_it_reads_with_their_defaults(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    shown = _help(capsys, command)

    for name, default, _, _ in read_by(command):
        assert re.search(rf"^  {name}={re.escape(default)} ", shown, re.MULTILINE), name
    assert _listed(shown) == [name for name, _, _, _ in read_by(command)]
    assert "docs/configuration.md describes each one." in shown


def test_dev_reads_every_setting_and_each_one_is_read_by_serve_or_worker() -> None:
    assert read_by("dev") == SETTINGS
    assert set(read_by("serve")) | set(read_by("worker")) == set(SETTINGS)


def test_worker_help_lists_only_worker_settings(capsys: pytest.CaptureFixture[str]) -> None:
    shown = _listed(_help(capsys, "worker"))

    assert "SUBGATE_RETRY_SCHEDULE" in shown
    assert "SUBGATE_DATABASE_URL" in shown
    for http_only in (
        "SUBGATE_PORT",
        "SUBGATE_TRUSTED_PROXIES",
        "SUBGATE_RATE_LIMIT",
        "SUBGATE_METRICS_TOKEN",
    ):
        assert http_only not in shown


def test_serve_help_leaves_out_the_worker_settings(capsys: pytest.CaptureFixture[str]) -> None:
    shown = _listed(_help(capsys, "serve"))

    assert "SUBGATE_PORT" in shown
    for worker_only in ("SUBGATE_RETRY_SCHEDULE", "SUBGATE_WORKER_POLL_SECONDS", "SUBGATE_SMTP_URL"):
        assert worker_only not in shown


def test_migrate_help_says_what_it_does_and_which_setting_it_reads(
    capsys: pytest.CaptureFixture[str],
) -> None:
    shown = " ".join(_help(capsys, "migrate").split())

    assert "indexes" in shown
    assert "SUBGATE_DATABASE_URL" in shown
    assert "Idempotent" in shown


def _every_parser(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                found.extend(_every_parser(child))
    return found


def test_every_argument_has_help() -> None:
    missing = [
        f"{parser.prog} {action.dest}"
        for parser in _every_parser(build_parser())
        for action in parser._actions
        if not isinstance(action, argparse._SubParsersAction) and not action.help
    ]

    assert missing == []


def test_events_send_lists_every_provider_s_event_types(capsys: pytest.CaptureFixture[str]) -> None:
    shown = " ".join(_help(capsys, "events", "send").split())

    assert "stripe events: customer.subscription.created" in shown
    assert "polar events: subscription.created" in shown


def test_settings_epilog_has_one_line_per_setting() -> None:
    lines = [line for line in settings_epilog().splitlines() if line.startswith("  SUBGATE_")]

    assert [line.split("=")[0].strip() for line in lines] == [name for name, _, _, _ in SETTINGS]


def test_help_lists_exactly_the_variables_settings_reads() -> None:
    read = set(re.findall(r"\"(SUBGATE_[A-Z_]+)\"", Path(subgate.settings.__file__).read_text()))

    assert {name for name, _, _, _ in SETTINGS} == read


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return ",".join(_shown(v) for v in value)
    return str(value)


# Defaults that depend on other settings or on the command, shown as a description instead.
DERIVED = {
    "SUBGATE_DATA_DIR",
    "SUBGATE_DATABASE_URL",
    "SUBGATE_PUBLIC_BASE_URL",
    "SUBGATE_LOG_FORMAT",
    "SUBGATE_SECRET_KEY",  # unset: the data directory's key file, when there is one
}


def test_shown_defaults_are_the_real_defaults() -> None:
    settings = load_settings({}, dotenv=None)

    for name, default, _, _ in SETTINGS:
        if name in DERIVED:
            continue
        value = getattr(settings, name.removeprefix("SUBGATE_").lower())
        assert _shown(value if value is not None else "") == default, name
    assert settings.data_dir == Path("./.subgate").resolve()
