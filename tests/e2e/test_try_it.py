"""The README's "Try it", run as written: `subgate dev`, curl, `subgate receive`, `subgate events send`.

Each command below is checked to appear verbatim in the README, then run through a shell with the
values a user would have copied (`KEY`, `CONN`, `SECRET`) in its environment. Only the ports differ:
the README's 8000 and 9000 become free ones.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from svix.webhooks import Webhook

from tests.support.cli import dev_env, free_port, running_dev, wait_until_healthy

README = Path(__file__).resolve().parents[2] / "README.md"

START = "subgate dev"
CREATE_CONNECTION = (
    'curl -s 127.0.0.1:8000/v1/connections -H "authorization: Bearer $KEY" '
    """-d '{"provider": "stripe", "webhook_secrets": ["whsec_from_the_stripe_dashboard"]}'"""
)
CREATE_ENDPOINT = (
    'curl -s 127.0.0.1:8000/v1/endpoints -H "authorization: Bearer $KEY" '
    """-d '{"url": "http://127.0.0.1:9000/hooks"}'"""
)
RECEIVE = "subgate receive --port 9000 --secret $SECRET"
SEND = "subgate events send stripe customer.subscription.created --connection $CONN"
LIST_SUBSCRIPTIONS = 'curl -s 127.0.0.1:8000/v1/subscriptions -H "authorization: Bearer $KEY"'
STEPS = (START, CREATE_CONNECTION, CREATE_ENDPOINT, RECEIVE, SEND, LIST_SUBSCRIPTIONS)


def _try_it_section() -> str:
    text = README.read_text()
    start = text.index("### Try it")
    return text[start : text.index("\n## ", start)]


def test_every_step_is_in_the_readme() -> None:
    section = _try_it_section()

    for step in STEPS:
        assert f"\n{step}\n" in section, step


@dataclass
class Terminal:
    """A user's shell: the project's .venv on the PATH, the service's ports instead of 8000/9000."""

    env: dict[str, str]
    cwd: Path
    service_port: int
    receiver_port: int
    values: dict[str, str] = field(default_factory=dict)

    def command(self, step: str) -> str:
        return step.replace("127.0.0.1:8000", f"127.0.0.1:{self.service_port}").replace(
            "9000", str(self.receiver_port)
        )

    def shell_env(self) -> dict[str, str]:
        path = f"{Path(sys.executable).parent}{os.pathsep}{self.env.get('PATH', '')}"
        return {**self.env, **self.values, "PATH": path}

    async def run(self, step: str) -> str:
        process = await asyncio.create_subprocess_exec(
            "/bin/sh",
            "-c",
            self.command(step),
            env=self.shell_env(),
            cwd=self.cwd,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        async with asyncio.timeout(60):
            out, err = await process.communicate()
        assert process.returncode == 0, f"{step}: exit {process.returncode}: {err.decode()[-2000:]}"
        return out.decode()


@dataclass
class Received:
    headers: dict[str, str]
    body: str
    verdict: str


@asynccontextmanager
async def receiving(terminal: Terminal) -> AsyncIterator[asyncio.subprocess.Process]:
    process = await asyncio.create_subprocess_exec(
        "/bin/sh",
        "-c",
        f"exec {terminal.command(RECEIVE)}",
        env=terminal.shell_env(),
        cwd=terminal.cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(30):
            first = (await process.stdout.readline()).decode()
        assert first.startswith("receiving on "), first
        yield process
    finally:
        process.terminate()
        await process.wait()


async def _next_notification(process: asyncio.subprocess.Process) -> Received:
    """One block of `subgate receive` output: POST line, headers, body line, signature line."""
    assert process.stdout is not None
    async with asyncio.timeout(30):
        while not (await process.stdout.readline()).decode().startswith("POST "):
            pass
        headers: dict[str, str] = {}
        while match := re.fullmatch(
            r"(webhook-[a-z]+|content-type): (.*)\n", line := (await process.stdout.readline()).decode()
        ):
            headers[match.group(1)] = match.group(2)
        verdict = (await process.stdout.readline()).decode()
    return Received(headers=headers, body=line.rstrip("\n"), verdict=verdict.rstrip("\n"))


async def test_try_it_from_first_event_to_signed_notification(tmp_path: Path) -> None:
    env = dev_env(tmp_path)
    # As after `make dev`: nothing set, and `dev` allows the endpoint on this machine by itself.
    env.pop("SUBGATE_ALLOW_PRIVATE_TARGETS", None)
    service_port, receiver_port = int(env["SUBGATE_PORT"]), free_port()
    with running_dev(env, tmp_path) as dev:
        assert dev.api_key is not None
        assert dev.banner[1].startswith("development mode: webhooks may go to loopback and private addresses")
        await wait_until_healthy(dev.base_url)
        terminal = Terminal(env=env, cwd=tmp_path, service_port=service_port, receiver_port=receiver_port)
        terminal.values["KEY"] = dev.api_key

        connection = json.loads(await terminal.run(CREATE_CONNECTION))
        endpoint = json.loads(await terminal.run(CREATE_ENDPOINT))
        terminal.values |= {"CONN": connection["id"], "SECRET": endpoint["secret"]}

        async with receiving(terminal) as receiver:
            sent = await terminal.run(SEND)
            assert sent.splitlines()[-1] == '200 {"status":"accepted"}'
            notification = await _next_notification(receiver)

        Webhook(endpoint["secret"]).verify(notification.body, notification.headers)
        assert notification.verdict == "signature: valid"
        body = json.loads(notification.body)
        assert body["type"].startswith("subscription.")
        subscription_id = re.search(r"subscription (sub_\w+)", sent)
        assert subscription_id is not None
        assert body["data"]["subscription"]["provider_subscription_id"] == subscription_id.group(1)

        listed = json.loads(await terminal.run(LIST_SUBSCRIPTIONS))["data"]
        assert [(s["provider_subscription_id"], s["status"]) for s in listed] == [
            (subscription_id.group(1), "active")
        ]


def test_receive_refuses_a_port_in_use(tmp_path: Path) -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "subgate", "receive", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    ) as first:
        assert first.stdout is not None
        port = first.stdout.readline().split(":")[2].split("/")[0]
        try:
            second = subprocess.run(
                [sys.executable, "-m", "subgate", "receive", "--port", port],
                capture_output=True,
                text=True,
                cwd=tmp_path,
                timeout=30,
                check=False,
            )
        finally:
            first.terminate()
    assert second.returncode == 2
    assert (
        second.stderr == f"subgate: cannot listen on 127.0.0.1:{port} (address already in use); use --port\n"
    )
