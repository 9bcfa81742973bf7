"""Run the `subgate` command line from async tests without blocking the event loop."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping
from pathlib import Path


async def run_cli(*args: str, env: Mapping[str, str], cwd: Path | None = None, deadline: float = 60) -> str:
    """Run `python -m subgate ARGS`; return stdout, or fail with stderr when it exits non-zero."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "subgate",
        *args,
        env=dict(env),
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(deadline):
        stdout, stderr = await process.communicate()
    if process.returncode != 0:
        raise AssertionError(
            f"subgate {' '.join(args)} exited {process.returncode}: {stderr.decode()[-2000:]}"
        )
    return stdout.decode()
