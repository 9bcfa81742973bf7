"""Log event names are snake_case everywhere (`inbound_webhook`, `enqueue_failed`): one style to grep for.

The source of every package is scanned for structlog calls whose event name is a literal:
`log.info("name", ...)`, `log.warning(...)`, ... and also calls through an alias of such a
method (`emit = log.info if ok else log.warning; emit("name", ...)`). Details belong in
key-value fields, never in the event name.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("domain", "gateway", "integrations", "subgate", "workers")
LEVELS = frozenset({"debug", "info", "msg", "warning", "warn", "error", "exception", "critical", "fatal"})
LEVELS_ASYNC = frozenset(
    f"a{level}" for level in LEVELS
)  # structlog's async variants: `await log.ainfo(...)`
SNAKE_CASE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")


def _is_level_method(node: ast.expr) -> bool:
    return isinstance(node, ast.Attribute) and node.attr in LEVELS | LEVELS_ASYNC


def _level_aliases(tree: ast.AST) -> set[str]:
    """Names bound to a log method, directly or through a conditional expression."""
    aliases: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Assign):
            continue
        value = node.value
        branches = [value.body, value.orelse] if isinstance(value, ast.IfExp) else [value]
        if all(_is_level_method(branch) for branch in branches):
            aliases.update(target.id for target in node.targets if isinstance(target, ast.Name))
    return aliases


def event_names(source: str) -> Iterator[tuple[int, str]]:
    """(line, name) of every log call in `source` whose first argument is a string literal."""
    tree = ast.parse(source)
    aliases = _level_aliases(tree)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        if not (_is_level_method(func) or (isinstance(func, ast.Name) and func.id in aliases)):
            continue
        first = node.args[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            yield node.lineno, first.value


def offenders(package: str) -> list[str]:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        if "structlog" not in source and "log" not in source:
            continue
        for line, name in event_names(source):
            if SNAKE_CASE.fullmatch(name) is None:
                found.append(f"{path.relative_to(ROOT)}:{line}: {name!r}")
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_log_event_names_are_snake_case(package: str) -> None:
    assert offenders(package) == []


def test_the_scanner_finds_names_in_every_call_shape() -> None:
    source = """
log = structlog.get_logger()
log.info("gateway_started", port=1)
log.warning("enqueue failed; retrying", job_id=j)
await log.aerror("Delivery-Attempt")
emit = log.info if ok else log.warning
emit("inbound_webhook", outcome=o)
emit("Inbound Webhook")
log.bind(job_id=j).exception("sweepFailed")
print("not a log call")
log.info(dynamic_name)
"""
    names = [name for _, name in sorted(event_names(source))]

    assert names == [
        "gateway_started",
        "enqueue failed; retrying",
        "Delivery-Attempt",
        "inbound_webhook",
        "Inbound Webhook",
        "sweepFailed",
    ]
    assert [name for name in names if SNAKE_CASE.fullmatch(name) is None] == [
        "enqueue failed; retrying",
        "Delivery-Attempt",
        "Inbound Webhook",
        "sweepFailed",
    ]
