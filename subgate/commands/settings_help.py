"""The settings, one line each, for `subgate dev --help` (every one), `serve` and `worker` (theirs).

The table is `settings.toml`, beside this module; `subgate.settings` reads them, and a unit test
keeps that table and that module in step.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Final

# (variable, default as shown, meaning, the commands besides `dev` that read it); an empty default
# means unset.
Setting = tuple[str, str, str, frozenset[str]]

TABLE: Final = Path(__file__).with_name("settings.toml")
COMMANDS: Final = frozenset({"serve", "worker"})


def _settings(table: Path) -> tuple[Setting, ...]:
    with table.open("rb") as file:
        rows = tomllib.load(file)
    settings = tuple(
        (name, str(row["default"]), str(row["meaning"]), frozenset(row["read_by"]))
        for name, row in rows.items()
    )
    for name, _, _, read in settings:
        if not read or not read <= COMMANDS:
            raise ValueError(
                f"{table.name}: {name} must be read by some of {sorted(COMMANDS)}, got {sorted(read)}"
            )
    return settings


SETTINGS: Final = _settings(TABLE)


def read_by(command: str) -> tuple[Setting, ...]:
    """The settings `command` reads: every one for `dev`, which runs both the server and the worker."""
    return tuple(setting for setting in SETTINGS if command == "dev" or command in setting[3])


def settings_epilog(command: str = "dev") -> str:
    shown = read_by(command)
    assignments = [f"{name}={default}" for name, default, _, _ in shown]
    width = max(len(a) for a in assignments)
    lines = [f"  {a:<{width}}  {meaning}" for a, (_, _, meaning, _) in zip(assignments, shown, strict=True)]
    return "\n".join(
        [
            f"settings {command} reads (environment variables with their defaults; a .env file in the",
            "working directory is read too, real variables win):",
            *lines,
            "docs/configuration.md describes each one.",
        ]
    )
