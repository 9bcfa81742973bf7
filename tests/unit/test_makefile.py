"""`make dev` installs the runtime dependencies only; the other targets sync the dev group too.

Checked with `make -n` (print the recipes, run nothing), so the shared .venv is left alone.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

MAKE = shutil.which("make")  # CI runs `make test`, so make is there wherever the tests run


def _recipes(target: str, *variables: str) -> list[str]:
    assert MAKE is not None, "make is needed"
    done = subprocess.run(
        [MAKE, "-n", "-C", str(ROOT), target, "UV=uv", *variables],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return [line.strip() for line in done.stdout.splitlines() if line.startswith("uv ")]


def test_dev_syncs_without_the_dev_group_then_runs_without_syncing() -> None:
    assert _recipes("dev", "CI=") == ["uv sync --no-dev --inexact", "uv run --no-sync subgate dev"]


def test_dev_is_locked_in_ci() -> None:
    assert _recipes("dev", "CI=true")[0] == "uv sync --no-dev --inexact --locked"


@pytest.mark.parametrize("target", ["test", "pytest", "lint", "typecheck", "imports"])
def test_other_targets_sync_the_dev_group_back(target: str) -> None:
    assert _recipes(target, "CI=")[0] == "uv sync"
    assert _recipes(target, "CI=true")[0] == "uv sync --locked"


def test_profile_records_each_loop_under_load_with_py_spy_outside_the_lock_file() -> None:
    recipes = _recipes("profile", "CI=", "PROFILE_DIR=out")
    assert recipes[0] == "uv sync"
    assert recipes[-1] == (
        "uv run --no-sync python -m benchmarks --only ingest --only delivery --only dev --repeat 1 "
        "--profile out --json out/results.json"
    )
