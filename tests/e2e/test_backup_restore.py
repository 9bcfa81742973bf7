"""`subgate backup` while `subgate dev` takes events, `subgate restore` into another data dir,
`subgate dev` there: every event answered 200 before the backup began is in the restored
store, and is processed once (applied, one subscription and one notification each)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.conftest import DevService
from tests.support.cli import dev_env, run_cli, running_dev, wait_until_healthy
from tests.support.receiver import running_receiver
from tests.support.service_processes import connect_stripe, eventually, post_subscription_created

SENDERS = 4
BEFORE_THE_BACKUP = 40  # events answered before it begins, at least


class Ingest:
    """Providers posting new subscriptions until told to stop; when each was answered 200."""

    def __init__(self, client: httpx.AsyncClient, webhook_url: str) -> None:
        self._client = client
        self._url = webhook_url
        self._next = 0
        self.answered: dict[str, float] = {}  # provider subscription id -> monotonic time of its 200
        self.stop = asyncio.Event()

    async def send(self) -> None:
        while not self.stop.is_set():
            self._next += 1
            subscription = f"sub_backup_{self._next:05d}"
            assert await post_subscription_created(self._client, self._url, subscription) == "accepted"
            self.answered[subscription] = time.monotonic()


async def _all(client: httpx.AsyncClient, path: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params = {"limit": "100"} | ({"starting_after": cursor} if cursor else {})
        page = (await client.get(path, params=params)).json()
        found.extend(page["data"])
        if not page["has_more"]:
            return found
        cursor = page["data"][-1]["id"]


async def test_a_backup_under_ingest_restored_elsewhere_has_every_event_acknowledged_before_it(
    dev_service: DevService, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    archive = tmp_path / "subgate-backup.tgz"
    async with running_receiver() as receiver:
        webhook_url = await connect_stripe(client)
        assert (await client.post("/v1/endpoints", json={"url": receiver.url})).status_code == 201
        ingest = Ingest(client, webhook_url)
        senders = [asyncio.create_task(ingest.send()) for _ in range(SENDERS)]

        async def enough_sent() -> bool:
            return len(ingest.answered) >= BEFORE_THE_BACKUP

        await eventually(enough_sent, f"{BEFORE_THE_BACKUP} events answered", 60)
        began = time.monotonic()
        await run_cli("backup", str(archive), env=dev_service.env, cwd=dev_service.cwd)
        ingest.stop.set()
        await asyncio.gather(*senders)
        before = {sub for sub, at in ingest.answered.items() if at < began}
        sent = set(ingest.answered)

        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        env = dev_env(elsewhere, SUBGATE_ALLOW_PRIVATE_TARGETS="true", SUBGATE_RETRY_SCHEDULE="0.2,0.2")
        out = await run_cli("restore", str(archive), env=env, cwd=elsewhere)
        assert "restored the backup" in out
        assert "SUBGATE_SECRET_KEY" not in out  # the key file travelled with it

        with running_dev(env, elsewhere, want_key=False) as restored:
            await wait_until_healthy(restored.base_url)
            async with httpx.AsyncClient(
                base_url=restored.base_url, headers=dev_service.auth, timeout=10
            ) as there:
                await _check_restored(there, before, sent)


async def _check_restored(there: httpx.AsyncClient, before: set[str], sent: set[str]) -> None:
    async def all_processed() -> bool:
        waiting = (await there.get("/v1/inbound-events", params={"status": "accepted"})).json()
        return not waiting["data"]

    await eventually(all_processed, "the restored service processed every event it holds", 60)
    events = await _all(there, "/v1/inbound-events")
    by_event = {e["provider_event_id"]: e for e in events}
    assert len(by_event) == len(events)  # stored once each
    missing = sorted(sub for sub in before if f"evt_{sub}" not in by_event)
    assert not missing, f"{len(missing)} events answered 200 before the backup are not there: {missing[:5]}"
    assert {by_event[f"evt_{sub}"]["status"] for sub in before} == {"applied"}

    subscriptions = await _all(there, "/v1/subscriptions")
    provider_ids = [s["provider_subscription_id"] for s in subscriptions]
    assert len(provider_ids) == len(set(provider_ids))  # applied once: one subscription each
    assert before <= set(provider_ids) <= sent  # some sent during the backup may be there too
    assert len(subscriptions) == len(events)

    async def every_notification_made() -> bool:
        deliveries = await _all(there, "/v1/deliveries")
        return len([d for d in deliveries if d["event_type"] == "subscription.created"]) >= len(subscriptions)

    await eventually(every_notification_made, "each restored subscription has its notification", 60)
    deliveries = await _all(there, "/v1/deliveries")
    created = [d for d in deliveries if d["event_type"] == "subscription.created"]
    assert len(created) == len(subscriptions)  # told once each, not again after the restore
    assert len({d["message_id"] for d in created}) == len(created)
