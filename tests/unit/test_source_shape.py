"""The source's shape: functions stay short, and the README's layout table names exactly the packages."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("domain", "gateway", "integrations", "workers", "subgate")
MAX_FUNCTION_LINES = 60


def _sources() -> list[Path]:
    return sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py"))


def _function_lengths(source: str) -> list[tuple[str, int]]:
    """(name, lines from its first decorator to its last line) of every function in `source`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            first = min([node.lineno, *(decorator.lineno for decorator in node.decorator_list)])
            end = node.end_lineno if node.end_lineno is not None else node.lineno
            found.append((node.name, end - first + 1))
    return found


def test_no_source_function_is_longer_than_sixty_lines() -> None:
    too_long = [
        f"{path.relative_to(ROOT)}:{name} ({lines} lines)"
        for path in _sources()
        for name, lines in _function_lengths(path.read_text(encoding="utf-8"))
        if lines > MAX_FUNCTION_LINES
    ]

    assert too_long == []


def test_a_function_is_measured_from_its_decorator_to_its_last_line_nested_ones_too() -> None:
    source = "\n".join(
        [
            "class A:",
            "    @staticmethod",
            "    def f() -> None:",
            "        def g() -> None:",
            "            pass",
            "",
            "        return g()",
        ]
    )

    assert sorted(_function_lengths(source)) == [("f", 6), ("g", 2)]


def _packages() -> set[str]:
    return {
        init.parent.relative_to(ROOT).as_posix()
        for package in PACKAGES
        for init in (ROOT / package).rglob("__init__.py")
    }


def _layout_table() -> set[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("### Layout\n")
    end = text.index("\n## ", start)
    return set(re.findall(r"^\| `([a-z_/]+)` \|", text[start:end], re.MULTILINE))


def test_the_readme_layout_table_names_exactly_the_packages_that_exist() -> None:
    assert _layout_table() == _packages()
