"""`subgate dev`'s embedded Redis: behind a generated password the service uses and never shows."""

from __future__ import annotations

import socket
import stat
from pathlib import Path

import httpx

from subgate.redis.embedded import CONFIG_FILE_NAME, PASSWORD_FILE_NAME, PORT_FILE_NAME
from tests.support.cli import dev_env, running_dev, wait_until_healthy


def _first_reply(port: int, command: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(command + b"\r\n")
        return connection.makefile("rb").readline()


async def test_the_service_runs_on_a_password_its_output_never_shows(tmp_path: Path) -> None:
    redis_dir = tmp_path / "data" / "redis"
    with running_dev(dev_env(tmp_path), tmp_path) as dev:
        await wait_until_healthy(dev.base_url)
        async with httpx.AsyncClient(base_url=dev.base_url, timeout=10) as http:
            ready = await http.get("/readyz")
            listed = await http.get("/v1/connections", headers={"authorization": f"Bearer {dev.api_key}"})
        password = (redis_dir / PASSWORD_FILE_NAME).read_text().strip()
        port = int((redis_dir / PORT_FILE_NAME).read_text())

        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["redis"] is True
        assert listed.status_code == 200
        assert _first_reply(port, b"PING").startswith(b"-NOAUTH")
        for private in (PASSWORD_FILE_NAME, CONFIG_FILE_NAME):
            assert stat.S_IMODE((redis_dir / private).stat().st_mode) == 0o600, private

    output = "\n".join(dev.banner) + dev.log.read_text()
    assert "embedded_redis_started" in output
    assert "rate_limit_unchecked" not in output  # the rate limiter reached Redis with the password
    assert password not in output
