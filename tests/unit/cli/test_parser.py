"""The parser: every command reaches a real function, and `dev --help` lists every setting."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import subgate.settings
from subgate.cli import LazyCommand, build_parser
from subgate.commands.settings_help import SETTINGS, settings_epilog
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
    ["receive", "--port", "9001", "--secret", "whsec_x"],
]


@pytest.mark.parametrize("argv", COMMAND_LINES, ids=" ".join)
def test_every_command_resolves_to_a_function(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)

    assert isinstance(args.run, LazyCommand)
    assert callable(args.run.resolve())


@pytest.mark.parametrize("command", ["dev", "serve", "worker"])
def test_service_help_lists_every_setting_with_its_default(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([command, "--help"])

    assert exited.value.code == 0
    shown = capsys.readouterr().out
    for name, default, _ in SETTINGS:
        assert re.search(rf"^  {name}={re.escape(default)} ", shown, re.MULTILINE), name
    assert 'README.md, section "Configuration"' in shown


def test_settings_epilog_has_one_line_per_setting() -> None:
    lines = [line for line in settings_epilog().splitlines() if line.startswith("  SUBGATE_")]

    assert [line.split("=")[0].strip() for line in lines] == [name for name, _, _ in SETTINGS]


def test_help_lists_exactly_the_variables_settings_reads() -> None:
    read = set(re.findall(r"\"(SUBGATE_[A-Z_]+)\"", Path(subgate.settings.__file__).read_text()))

    assert {name for name, _, _ in SETTINGS} == read


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

    for name, default, _ in SETTINGS:
        if name in DERIVED:
            continue
        value = getattr(settings, name.removeprefix("SUBGATE_").lower())
        assert _shown(value if value is not None else "") == default, name
    assert settings.data_dir == Path("./.subgate").resolve()
