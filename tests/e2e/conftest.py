"""A `subgate dev` per test, started as a user would, with its own data dir and free port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.cli import DevProcess, dev_env, running_dev, wait_until_healthy


@dataclass
class DevService:
    base_url: str
    api_key: str
    env: dict[str, str]
    cwd: Path
    process: DevProcess

    @property
    def auth(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.api_key}"}


@pytest.fixture
def dev_service(tmp_path: Path) -> Iterator[DevService]:
    env = dev_env(
        tmp_path,
        SUBGATE_ALLOW_PRIVATE_TARGETS="true",
        SUBGATE_RETRY_SCHEDULE="0.2,0.2",
    )
    with running_dev(env, tmp_path) as dev:
        assert dev.api_key is not None
        yield DevService(base_url=dev.base_url, api_key=dev.api_key, env=env, cwd=tmp_path, process=dev)


@pytest.fixture
async def client(dev_service: DevService) -> AsyncIterator[httpx.AsyncClient]:
    await wait_until_healthy(dev_service.base_url)
    async with httpx.AsyncClient(base_url=dev_service.base_url, headers=dev_service.auth, timeout=10) as http:
        yield http
