"""The portal served for a real browser: the real app on a SQLite store, uvicorn on loopback in a
thread of its own, a clock the tests move, and the worker's delivery steps driven in burst mode.

Everything that touches the store runs on the server's event loop (`run`), the one loop the store
belongs to. Notifications go out through the real sender (signed, over HTTP) to `Endpoint`, a
loopback server that answers what it is told.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn

from domain.inbound.external import InboundExternal
from domain.merchants.external import MerchantsExternal
from domain.merchants.internal import MerchantsInternal
from domain.merchants.portal import PortalSessions
from domain.notifications.external import NotificationsExternal
from domain.notifications.history import NotificationHistory
from domain.notifications.internal import NotificationsInternal
from domain.notifications.retry import RetryPolicy
from domain.subscriptions.external.subscriptions import SubscriptionsExternal
from gateway.app import create_app
from gateway.deps import GatewayConfig, GatewayDeps, PortalDeps
from integrations.delivery.http.registration import registration_check
from integrations.delivery.http.sender import HttpWebhookSender, OutboundClient
from integrations.stores.schema import COLLECTIONS
from integrations.stores.sqlite import SqliteStore
from integrations.stores.txn import StoreTxn
from integrations.telemetry.tracing import Telemetry
from tests.support.cli import free_port
from tests.support.fakes import FakeClock, RecordingSignal
from tests.support.work import deliver_due

T = TypeVar("T")
_DEADLINE_S = 30.0


@dataclass
class Endpoint:
    """A merchant's endpoint on loopback: records each request, answers `statuses` in turn, then 200."""

    url: str = ""
    statuses: list[int] = field(default_factory=list)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


@contextmanager
def running_endpoint() -> Iterator[Endpoint]:
    endpoint = Endpoint()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            endpoint.received.append((dict(self.headers.items()), body))
            status = endpoint.statuses.pop(0) if endpoint.statuses else 200
            self.send_response(status)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *_: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    endpoint.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield endpoint
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class PortalServer:
    base_url: str
    clock: FakeClock
    deps: GatewayDeps
    txn: StoreTxn
    loop: asyncio.AbstractEventLoop
    worker: NotificationsInternal

    def run(self, work: Callable[[], Awaitable[T]]) -> T:
        """Run `work` on the server's loop (where the store lives) and wait for it."""

        async def wrapped() -> T:
            return await work()

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result(_DEADLINE_S)

    def merchant(self, name: str) -> tuple[str, str]:
        merchant, key = self.run(lambda: MerchantsInternal(self.txn, self.clock).create_merchant(name))
        return merchant.id, key

    def link(self, api_key: str, **body: Any) -> str:
        made = httpx.post(
            f"{self.base_url}/v1/portal-sessions",
            json=body,
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=_DEADLINE_S,
        )
        assert made.status_code == 201, made.text
        url: str = made.json()["url"]
        return url

    def deliver(self) -> int:
        """The worker's delivery steps in burst mode: fan out, then attempt whatever is due."""

        async def burst() -> int:
            await self.worker.dispatch_pending()
            return len(await deliver_due(self.worker, "wrk_browser"))

        return self.run(burst)


def _deps(store: SqliteStore, clock: FakeClock, base_url: str) -> tuple[GatewayDeps, StoreTxn]:
    txn = StoreTxn(store)
    signal = RecordingSignal()
    deps = GatewayDeps(
        config=GatewayConfig(base_url=base_url),
        clock=clock,
        telemetry=Telemetry("subgate-browser-tests"),
        providers={},
        merchants=MerchantsExternal(txn, clock),
        subscriptions=SubscriptionsExternal(txn, clock),
        inbound=InboundExternal(txn, clock, signal),
        notifications=NotificationsExternal(txn, clock, signal),
        readiness=_ready,
        check_target=registration_check(allow_private=True),
        portal=PortalDeps(sessions=PortalSessions(txn, clock), history=NotificationHistory(txn, clock)),
    )
    return deps, txn


async def _ready() -> dict[str, bool]:
    return {"store": True, "redis": True}


@contextmanager
def portal_server(data_dir: Path) -> Iterator[PortalServer]:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    # Today: receivers (svix) refuse signatures with a timestamp more than five minutes away.
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    store = SqliteStore(data_dir / "subgate.db")
    deps, txn = _deps(store, clock, base_url)
    loop = asyncio.new_event_loop()
    client = OutboundClient(allow_private_targets=True)
    sender = HttpWebhookSender(client, deps.telemetry, 5.0)
    worker = NotificationsInternal(
        txn, clock, RecordingSignal(), sender, RetryPolicy(schedule=(1.0,), jitter=0.0), 5.0
    )
    config = uvicorn.Config(create_app(deps), host="127.0.0.1", port=port, log_config=None, access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    portal = PortalServer(base_url=base_url, clock=clock, deps=deps, txn=txn, loop=loop, worker=worker)
    portal.run(lambda: store.migrate(COLLECTIONS))
    serving = asyncio.run_coroutine_threadsafe(server.serve(), loop)
    try:
        _until_listening(base_url)
        yield portal
    finally:
        server.should_exit = True
        serving.result(_DEADLINE_S)
        portal.run(client.aclose)
        portal.run(store.close)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(_DEADLINE_S)
        loop.close()
        deps.telemetry.shutdown()


def _until_listening(base_url: str) -> None:
    deadline = threading.Event()
    for _ in range(int(_DEADLINE_S * 20)):
        try:
            httpx.get(f"{base_url}/healthz", timeout=1.0)
        except httpx.TransportError:
            deadline.wait(0.05)
            continue
        return
    raise RuntimeError(f"the portal server did not listen at {base_url}")
