"""Fixtures shared by the gateway tests: a fresh app on in-memory fakes per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.gateway.fakes import Gateway, make_gateway


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    built = make_gateway(tmp_path)
    yield built
    built.deps.telemetry.shutdown()
