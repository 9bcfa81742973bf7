"""The command line sets the process's umask (`subgate.cli.main`); these tests call it in-process."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def umask_kept() -> Iterator[None]:
    """Give the test process its own umask back after each test."""
    before = os.umask(0o022)
    os.umask(before)
    try:
        yield
    finally:
        os.umask(before)
