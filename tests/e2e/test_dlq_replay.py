"""`subgate dlq replay` in a second terminal beside a running `subgate dev`: the service sends the replay."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.e2e.conftest import DevService
from tests.support.cli import dev_env, run_cli, run_cli_result
from tests.support.receiver import running_receiver
from tests.support.service_processes import connect_stripe, eventually, post_subscription_created

ATTEMPTS = 3  # SUBGATE_RETRY_SCHEDULE=0.2,0.2 in the dev fixture


async def dead_letters(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = (await client.get("/v1/dead-letters")).json()["data"]
    return listed


async def test_replays_from_the_cli_are_picked_up_by_the_running_service(
    dev_service: DevService, client: httpx.AsyncClient
) -> None:
    failing = {"now": True}
    async with running_receiver(status_for=lambda _n: 500 if failing["now"] else 200) as receiver:
        webhook_url = await connect_stripe(client)
        created = await client.post("/v1/endpoints", json={"url": receiver.url})
        assert created.status_code == 201, created.text

        await post_subscription_created(client, webhook_url, "sub_replay_one")
        await eventually(lambda: _count(client, 1), "the first notification is a dead letter")
        [first] = await dead_letters(client)
        failing["now"] = False

        out = await run_cli("dlq", "replay", first["id"], env=dev_service.env, cwd=dev_service.cwd)

        assert f"{first['id']} replayed: due now" in out
        await receiver.wait_for(ATTEMPTS + 1, deadline_seconds=30)
        ids = {r.headers["webhook-id"] for r in receiver.received}
        assert len(ids) == 1  # the replay carries the message's own webhook-id

        failing["now"] = True
        await post_subscription_created(client, webhook_url, "sub_replay_all")
        await eventually(lambda: _count(client, 1), "the second notification is a dead letter")
        failing["now"] = False

        out = await run_cli(
            "dlq", "replay", "--all", "--kind", "webhook", "--json", env=dev_service.env, cwd=dev_service.cwd
        )

        assert '"skipped": []' in out
        await receiver.wait_for(2 * ATTEMPTS + 2, deadline_seconds=30)

    async def both_succeeded() -> bool:
        deliveries = (await client.get("/v1/deliveries")).json()["data"]
        return [d["status"] for d in deliveries] == ["succeeded", "succeeded"]

    await eventually(both_succeeded, "both replayed deliveries are recorded as succeeded")
    assert await dead_letters(client) == []


async def _count(client: httpx.AsyncClient, wanted: int) -> bool:
    return len(await dead_letters(client)) == wanted


async def test_replay_usage_mistakes_exit_2_and_unknown_ids_exit_1(tmp_path: Path) -> None:
    env = dev_env(tmp_path)
    await run_cli("migrate", env=env, cwd=tmp_path)

    both = await run_cli_result("dlq", "replay", "dl_1", "--all", env=env, cwd=tmp_path)
    neither = await run_cli_result("dlq", "replay", env=env, cwd=tmp_path)
    unknown = await run_cli_result("dlq", "replay", "dl_missing", env=env, cwd=tmp_path)

    assert (both.code, neither.code) == (2, 2)
    assert "not both" in both.stderr
    assert unknown.code == 1
    assert "dl_missing not replayed: dead letter 'dl_missing' does not exist" in unknown.stdout
