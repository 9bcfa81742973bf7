"""The chaos tier: its marker, and its summary lines printed at the end of the run, passed or failed."""

from __future__ import annotations

from collections.abc import Callable

import pytest

_SUMMARY = pytest.StashKey[list[str]]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "chaos: real processes killed and restarted under provider traffic (`-m chaos` selects it)"
    )
    config.stash[_SUMMARY] = []


@pytest.fixture
def chaos_summary(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Adds a line to the chaos section of the terminal summary."""
    return request.config.stash[_SUMMARY].append


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    lines = config.stash.get(_SUMMARY, [])
    if lines:
        terminalreporter.section("chaos")
        for line in lines:
            terminalreporter.write_line(line)
