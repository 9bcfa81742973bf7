"""First starts that go wrong, and the demo key: `subgate dev`/`serve` as a user runs them."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import httpx
import pytest

from subgate.commands.service import FIRST_START_MARKER
from tests.support.cli import dev_env, free_port, run_cli, run_cli_result, running_dev, wait_until_healthy


@pytest.mark.parametrize("command", ["dev", "serve"])
async def test_port_in_use_is_one_line_and_leaves_a_fresh_data_dir_fresh(
    tmp_path: Path, command: str
) -> None:
    env = dev_env(tmp_path)
    port = int(env["SUBGATE_PORT"])
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()

        failed = await run_cli_result(command, env=env, cwd=tmp_path)

    assert failed.code == 2
    assert failed.stdout == ""
    assert failed.stderr == (
        f"subgate: cannot listen on 127.0.0.1:{port} (address already in use); set SUBGATE_PORT\n"
    )
    assert not (tmp_path / "data").exists()  # no Redis started, no store, no demo merchant, no marker

    with running_dev(env, tmp_path) as dev:  # the port is free again: the first real start
        assert dev.api_key is not None


async def test_a_first_start_that_never_gets_ready_keeps_the_demo_key_for_the_next(tmp_path: Path) -> None:
    # Redis unreachable: the service listens but is not ready, so no demo merchant is made.
    unreachable = dev_env(tmp_path, SUBGATE_REDIS_URL=f"redis://:unused@127.0.0.1:{free_port()}/0")
    with running_dev(unreachable, tmp_path, want_key=False) as unready:
        await wait_until_healthy(unready.base_url)
        async with httpx.AsyncClient(base_url=unready.base_url, timeout=10) as http:
            assert (await http.get("/readyz")).status_code == 503
    assert not any("API key" in line for line in unready.banner), unready.banner
    assert not (tmp_path / "data" / FIRST_START_MARKER).exists()

    env = {k: v for k, v in unreachable.items() if k != "SUBGATE_REDIS_URL"}
    with running_dev(env, tmp_path) as dev:
        assert dev.api_key is not None
        await wait_until_healthy(dev.base_url)
        async with httpx.AsyncClient(base_url=dev.base_url, timeout=10) as http:
            answer = await http.get("/v1/connections", headers={"authorization": f"Bearer {dev.api_key}"})
        assert answer.status_code == 200


async def test_later_starts_say_how_to_get_a_new_key_and_rotate_key_gives_one(tmp_path: Path) -> None:
    env = dev_env(tmp_path)
    with running_dev(env, tmp_path) as first:
        assert first.api_key is not None
        old_key = first.api_key
        merchant_id = next(line.split()[2].rstrip(";") for line in first.banner if "API key" in line)

    with running_dev(env, tmp_path, want_key=False) as later:
        assert later.api_key is None
        later.read_until("merchants create NAME")
        hints = "\n".join(later.banner)
        assert f"subgate merchants rotate-key {merchant_id}" in hints

        rotated = json.loads(await run_cli("merchants", "rotate-key", merchant_id, env=env, cwd=tmp_path))
        assert rotated["merchant_id"] == merchant_id

        await wait_until_healthy(later.base_url)
        async with httpx.AsyncClient(base_url=later.base_url, timeout=10) as http:
            with_new = await http.get(
                "/v1/connections", headers={"authorization": f"Bearer {rotated['api_key']}"}
            )
            with_old = await http.get("/v1/connections", headers={"authorization": f"Bearer {old_key}"})
        assert with_new.status_code == 200
        assert with_old.status_code == 401
