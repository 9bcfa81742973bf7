"""A data directory written by the previous release (`previous_release/`, made by its script
with that release's own code) is found behind, refused by `serve`, upgraded by `subgate
migrate`, and then serves everything it held over REST and processes new events."""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx

from integrations.providers.stripe.samples import signed_headers, subscription_event
from integrations.stores.migrations.steps import STEPS
from tests.support.cli import dev_env, run_cli, run_cli_result, running_dev, wait_until_healthy
from tests.support.service_processes import eventually

FIXTURE = Path(__file__).parent / "previous_release"
NEEDS_MIGRATE = 3


def _previous_release_data_dir(data_dir: Path) -> dict[str, Any]:
    data_dir.mkdir(mode=0o700)
    with sqlite3.connect(data_dir / "subgate.db") as db:
        db.executescript((FIXTURE / "subgate.sql").read_text())
    shutil.copyfile(FIXTURE / "secret.key", data_dir / "secret.key")
    facts: dict[str, Any] = json.loads((FIXTURE / "fixture.json").read_text())
    return facts


async def test_the_previous_release_s_data_is_upgraded_then_served_and_processed(tmp_path: Path) -> None:
    env = dev_env(tmp_path, SUBGATE_ALLOW_PRIVATE_TARGETS="true", SUBGATE_RETRY_SCHEDULE="0.2,0.2")
    facts = _previous_release_data_dir(Path(env["SUBGATE_DATA_DIR"]))

    check = await run_cli_result("migrate", "--check", env=env, cwd=tmp_path)
    assert check.code == NEEDS_MIGRATE, check
    assert "version 0" in check.stdout
    refused = await run_cli_result("serve", env=env, cwd=tmp_path)
    assert refused.code == NEEDS_MIGRATE
    assert "run `subgate migrate`" in refused.stderr

    await run_cli("migrate", env=env, cwd=tmp_path)
    assert (await run_cli_result("migrate", "--check", env=env, cwd=tmp_path)).code == 0

    with running_dev(env, tmp_path, want_key=False) as dev:
        await wait_until_healthy(dev.base_url)
        auth = {"authorization": f"Bearer {facts['api_key']}"}
        async with httpx.AsyncClient(base_url=dev.base_url, headers=auth, timeout=10) as api:
            for path, count in facts["counts"].items():
                listed = await api.get(f"/v1/{path}", params={"limit": "100"})
                assert listed.status_code == 200, listed.text
                assert len(listed.json()["data"]) == count, path
            events = (await api.get("/v1/inbound-events", params={"limit": "100"})).json()["data"]
            assert {e["status"] for e in events} == {"applied"}
            for delivery in (await api.get("/v1/deliveries", params={"limit": "100"})).json()["data"]:
                shown = await api.get(f"/v1/deliveries/{delivery['id']}")
                assert shown.status_code == 200
                assert shown.json()["attempts"], delivery
            await _a_new_event_is_processed(api, facts)


async def _a_new_event_is_processed(api: httpx.AsyncClient, facts: dict[str, Any]) -> None:
    """Verified with the connection's secret as the old release sealed it, then applied."""
    connection = (await api.get(f"/v1/connections/{facts['connection_id']}")).json()
    body = subscription_event(
        "customer.subscription.created", event_id="evt_after_upgrade", sub_id="sub_after_upgrade"
    )
    answer = await api.post(
        connection["webhook_url"],
        content=body,
        headers=signed_headers(body, facts["stripe_secret"], int(time.time())),
    )
    assert answer.json() == {"status": "accepted"}

    async def applied() -> bool:
        found = await api.get("/v1/subscriptions", params={"provider_subscription_id": "sub_after_upgrade"})
        return len(found.json()["data"]) == 1

    await eventually(applied, "the new event is applied", 30)

    async def announced() -> bool:
        deliveries = (await api.get("/v1/deliveries", params={"limit": "100"})).json()["data"]
        return len(deliveries) == int(facts["counts"]["deliveries"]) + 2  # one per endpoint

    await eventually(announced, "the new subscription is announced to both endpoints", 30)


async def test_dev_upgrades_the_previous_release_s_data_itself(tmp_path: Path) -> None:
    env = dev_env(tmp_path)
    facts = _previous_release_data_dir(Path(env["SUBGATE_DATA_DIR"]))
    with running_dev(env, tmp_path, want_key=False) as dev:
        assert f"store schema upgraded from version 0 to {STEPS[-1].number}" in dev.banner
        await wait_until_healthy(dev.base_url)
        auth = {"authorization": f"Bearer {facts['api_key']}"}
        async with httpx.AsyncClient(base_url=dev.base_url, headers=auth, timeout=10) as api:
            listed = await api.get("/v1/subscriptions", params={"limit": "100"})
            assert len(listed.json()["data"]) == facts["counts"]["subscriptions"]
    assert (await run_cli_result("migrate", "--check", env=env, cwd=tmp_path)).code == 0
