"""docs/configuration.md lists exactly the settings subgate reads; the README's short table only real ones."""

from __future__ import annotations

import re
from pathlib import Path

from subgate.commands.settings_help import SETTINGS

ROOT = Path(__file__).resolve().parents[2]


def settings_in_table(text: str) -> set[str]:
    """Every `SUBGATE_...` name in the first cell of a table row (a row may name two, `A` / `B`)."""
    cells = re.findall(r"^\| (`SUBGATE_[^|]*) \|", text, re.MULTILINE)
    return {name for cell in cells for name in re.findall(r"`(SUBGATE_[A-Z_]+)`", cell)}


def _section(path: Path, heading: str) -> str:
    text = path.read_text(encoding="utf-8")
    start = text.index(heading)
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def wrong_defaults(text: str) -> list[str]:
    """Rows whose default cell is one plain value that differs from the setting's own default."""
    defaults = {name: default for name, default, _, _ in SETTINGS}
    rows = re.findall(r"^\| `(SUBGATE_[A-Z_]+)` \| `([^`|]*)` \|", text, re.MULTILINE)
    assert rows, "no row with a plain default: the table's shape changed"
    return [name for name, shown in rows if defaults.get(name, shown) != shown]


def test_the_configuration_page_names_every_setting_and_no_other() -> None:
    section = _section(ROOT / "docs" / "configuration.md", "## Settings\n")

    assert settings_in_table(section) == {name for name, _, _, _ in SETTINGS}
    assert wrong_defaults(section) == []


def test_the_readme_names_only_settings_that_exist_with_their_defaults() -> None:
    section = _section(ROOT / "README.md", "## Configuration\n")

    assert settings_in_table(section) <= {name for name, _, _, _ in SETTINGS}
    assert wrong_defaults(section) == []


def test_a_wrong_default_is_reported() -> None:
    assert wrong_defaults("| `SUBGATE_PORT` | `8001` | HTTP bind |\n") == ["SUBGATE_PORT"]
