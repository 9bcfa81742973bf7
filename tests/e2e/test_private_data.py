"""`subgate dev` keeps its data private: modes on disk, secrets sealed, rotation done by the worker."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sqlite3
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from integrations.providers.stripe.signature import sign_stripe_payload
from integrations.stores.sealing.keys import key_id, new_key
from subgate.keyfile import KEY_FILE_NAME
from tests.support.cli import dev_env, run_cli, run_cli_result, running_dev, wait_until_healthy

WEBHOOK_SECRET = "whsec_private_data_Wm3kQ7zR"
PROVIDER_API_KEY = "sk_test_private_data_Jd8vN2"
SEALED_WITH_DEADLINE_SECONDS = 30.0


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """Start `subgate dev` as from a usual login shell (umask 022): it must set its own."""
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def stored_bytes(data_dir: Path) -> bytes:
    """What the SQLite database holds on disk right now: the file and its write-ahead log."""
    names = ("subgate.db", "subgate.db-wal", "subgate.db-shm")
    return b"".join((data_dir / name).read_bytes() for name in names if (data_dir / name).exists())


def sealed_with(data_dir: Path) -> set[str | None]:
    """Straight from the SQLite file (read-only, beside the running service): which keys sealed what."""
    db = sqlite3.connect(f"file:{data_dir / 'subgate.db'}?mode=ro", uri=True)
    try:
        return {
            row[0]
            for table in ("connections", "endpoints", "idempotency_keys")
            for row in db.execute(f"SELECT json_extract(doc, '$.sealed_with') FROM {table}")  # noqa: S608 - fixed names
        }
    finally:
        db.close()


async def make_secrets(base_url: str, api_key: str) -> tuple[str, str, bytes]:
    """A connection (webhook secret, provider API key) and an endpoint; (connection id, endpoint secret,
    the endpoint's creation answer, which an idempotency key keeps)."""
    auth = {"authorization": f"Bearer {api_key}"}
    async with httpx.AsyncClient(base_url=base_url, headers=auth, timeout=10) as http:
        made = await http.post(
            "/v1/connections",
            json={"provider": "stripe", "webhook_secrets": [WEBHOOK_SECRET], "api_key": PROVIDER_API_KEY},
        )
        assert made.status_code == 201, made.text
        endpoint = await http.post(
            "/v1/endpoints",
            json={"url": "https://merchant.example/hooks"},
            headers={"idempotency-key": "private-data-endpoint"},
        )
        assert endpoint.status_code == 201, endpoint.text
    return made.json()["id"], endpoint.json()["secret"], endpoint.content


async def webhook_answer(base_url: str, connection_id: str) -> int:
    """A Stripe event signed with the connection's secret: what the service answers."""
    body = orjson.dumps(
        {"id": f"evt_{time.monotonic_ns()}", "type": "ping.unhandled", "created": int(time.time())}
    )
    headers = {
        "content-type": "application/json",
        "stripe-signature": sign_stripe_payload(body, WEBHOOK_SECRET, int(time.time())),
    }
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        return (
            await http.post(f"/webhooks/stripe/{connection_id}", content=body, headers=headers)
        ).status_code


async def test_dev_makes_its_key_and_keeps_the_data_directory_private(
    tmp_path: Path, loose_umask: None
) -> None:
    env = dev_env(tmp_path)
    data_dir = tmp_path / "data"
    with running_dev(env, tmp_path) as dev:
        assert dev.api_key is not None
        await wait_until_healthy(dev.base_url)
        connection_id, endpoint_secret, answer = await make_secrets(dev.base_url, dev.api_key)
        assert await webhook_answer(dev.base_url, connection_id) == 200

        assert mode(data_dir) == 0o700
        assert mode(data_dir / KEY_FILE_NAME) == 0o600
        assert (data_dir / "subgate.db-wal").exists()
        assert (data_dir / "redis").is_dir()
        for directory, subdirectories, files in os.walk(data_dir):
            for name in subdirectories:
                assert mode(Path(directory) / name) == 0o700, name
            for name in files:
                assert mode(Path(directory) / name) == 0o600, name

        on_disk = stored_bytes(data_dir)
        for secret in (WEBHOOK_SECRET, PROVIDER_API_KEY, endpoint_secret):
            assert secret.encode() not in on_disk
        assert base64.b64encode(answer) not in on_disk
        key = (data_dir / KEY_FILE_NAME).read_text().strip()
        assert sealed_with(data_dir) == {key_id(key)}

        status = json.loads(await run_cli("secrets", "status", env=env, cwd=tmp_path))
        assert status["key"] == key_id(key)  # an admin command beside dev uses dev's key file
        assert status["collections"]["connections"]["current"] == 1


async def test_a_rotation_is_done_by_the_worker_and_then_the_old_key_can_go(tmp_path: Path) -> None:
    old, new = new_key(), new_key()
    env = dev_env(tmp_path, SUBGATE_SECRET_KEY=old)
    data_dir = tmp_path / "data"
    with running_dev(env, tmp_path) as first:
        assert first.api_key is not None
        await wait_until_healthy(first.base_url)
        connection_id, _, _ = await make_secrets(first.base_url, first.api_key)
    assert sealed_with(data_dir) == {key_id(old)}

    with running_dev({**env, "SUBGATE_SECRET_KEY": f"{new},{old}"}, tmp_path, want_key=False) as rotated:
        await wait_until_healthy(rotated.base_url)
        async with asyncio.timeout(SEALED_WITH_DEADLINE_SECONDS):
            while True:
                if sealed_with(data_dir) == {key_id(new)}:
                    break
                await asyncio.sleep(0.1)  # polling the store the worker re-seals, bounded by the timeout

    with running_dev({**env, "SUBGATE_SECRET_KEY": new}, tmp_path, want_key=False) as after:
        await wait_until_healthy(after.base_url)
        assert await webhook_answer(after.base_url, connection_id) == 200

    refused = await run_cli_result("worker", env={**env, "SUBGATE_SECRET_KEY": old}, cwd=tmp_path)
    assert refused.code == 1
    assert "SUBGATE_SECRET_KEY" in refused.stderr
    assert key_id(new) in refused.stderr
    assert old not in refused.stderr
