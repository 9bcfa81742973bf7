"""The portal's pages with a million deliveries of history for the merchant: p95 of server time.

`python -m benchmarks --only portal` (or with `--history [N]`) writes N finished inbound events and
N succeeded deliveries (`benchmarks.history`, the same documents as the history benchmark), all of
them one merchant's this time, with the hourly endpoint counters the worker would have written for
the last day. The real app then answers each page `_REQUESTS` times (in process, over the SQLite
file), and each page's p95 of its `Server-Timing` (the time from the request reaching the portal
to its answer starting) is reported against the 100 ms target.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import httpx

from benchmarks.history import seed_history
from benchmarks.results import Measurement, Target
from domain.inbound.external import InboundExternal
from domain.merchants.external import MerchantsExternal
from domain.merchants.portal import PortalSessions
from domain.notifications.external import NotificationsExternal
from domain.notifications.history import NotificationHistory
from domain.shared.clock import system_clock
from domain.subscriptions.external.subscriptions import SubscriptionsExternal
from gateway.app import create_app
from gateway.deps import GatewayConfig, GatewayDeps, PortalDeps
from integrations.stores.sqlite import SqliteStore
from integrations.stores.txn import StoreTxn
from integrations.telemetry.tracing import Telemetry

TARGET_MS: Final = 100.0
_REQUESTS: Final = 40
_BASE: Final = "http://portal.bench"
_TIMING: Final = re.compile(r"app;dur=([0-9.]+)")


class _Signal:
    def notify(self, _: object) -> None:
        return None


async def _ready() -> dict[str, bool]:
    return {"store": True}


def _app(store: SqliteStore) -> tuple[GatewayDeps, PortalSessions]:
    txn = StoreTxn(store)
    sessions = PortalSessions(txn, system_clock)
    deps = GatewayDeps(
        config=GatewayConfig(base_url=_BASE),
        clock=system_clock,
        telemetry=Telemetry("subgate-bench-portal"),
        providers={},
        merchants=MerchantsExternal(txn, system_clock),
        subscriptions=SubscriptionsExternal(txn, system_clock),
        inbound=InboundExternal(txn, system_clock, _Signal()),
        notifications=NotificationsExternal(txn, system_clock, _Signal()),
        readiness=_ready,
        portal=PortalDeps(sessions=sessions, history=NotificationHistory(txn, system_clock)),
    )
    return deps, sessions


def _one_of_each(path: Path) -> dict[str, str]:
    """The merchant and ids of the history to ask pages about (a delivery from the middle)."""
    with sqlite3.connect(path) as raw:
        (merchant,) = raw.execute("SELECT id FROM merchants LIMIT 1").fetchone()
        (endpoint,) = raw.execute("SELECT id FROM endpoints LIMIT 1").fetchone()
        (count,) = raw.execute("SELECT count(*) FROM deliveries").fetchone()
        delivery, subject = raw.execute(
            "SELECT id, json_extract(doc, '$.subject_id') FROM deliveries LIMIT 1 OFFSET ?", (count // 2,)
        ).fetchone()
    return {"merchant": merchant, "endpoint": endpoint, "delivery": delivery, "subject": subject}


def _pages(ids: dict[str, str]) -> dict[str, str]:
    month_ago = (datetime.now(UTC) - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")
    day_later = (datetime.now(UTC) - timedelta(days=29)).strftime("%Y-%m-%dT%H:%M")
    return {
        "overview": "/portal/",
        "endpoints": "/portal/endpoints",
        "endpoint": f"/portal/endpoints/{ids['endpoint']}",
        "event types": "/portal/event-types",
        "deliveries": "/portal/deliveries",
        "deliveries, one endpoint": f"/portal/deliveries?endpoint_id={ids['endpoint']}",
        "deliveries, dead": "/portal/deliveries?status=dead",
        "deliveries, one type": "/portal/deliveries?type=subscription.created",
        "deliveries, one subscription": f"/portal/deliveries?subscription_id={ids['subject']}",
        "deliveries, a day a month ago": f"/portal/deliveries?from={month_ago}&until={day_later}",
        "delivery": f"/portal/deliveries/{ids['delivery']}",
        "dead letters": "/portal/dead-letters",
        "subscriptions": "/portal/subscriptions",
        "customers": "/portal/customers",
        "inbound events": "/portal/inbound-events",
        "inbound events, ignored": "/portal/inbound-events?status=ignored",
    }


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


async def _measure(path: Path, progress: Callable[[str], None]) -> dict[str, float]:
    ids = _one_of_each(path)
    store = SqliteStore(path)
    deps, sessions = _app(store)
    try:
        issued = await sessions.issue(ids["merchant"])
        transport = httpx.ASGITransport(app=create_app(deps), client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url=_BASE) as browser:
            opened = await browser.get(f"/portal/open?token={issued.token}")
            assert opened.status_code == 303, opened.text
            found: dict[str, float] = {}
            for name, page in _pages(ids).items():
                timings = []
                for _ in range(_REQUESTS):
                    answer = await browser.get(page)
                    assert answer.status_code == 200, (page, answer.status_code)
                    timed = _TIMING.search(answer.headers["server-timing"])
                    assert timed is not None
                    timings.append(float(timed.group(1)))
                found[name] = _p95(timings)
                progress(f"portal: {name} p95 {found[name]:.1f} ms")
        return found
    finally:
        await store.close()
        deps.telemetry.shutdown()


def run_portal(size: int, progress: Callable[[str], None]) -> list[Measurement]:
    with tempfile.TemporaryDirectory(prefix="subgate-bench-portal-") as scratch:
        path = Path(scratch) / "subgate.db"
        progress(f"portal: writing {size:,} inbound events and {size:,} deliveries for one merchant")
        seeded = seed_history(path, size, merchants=1)
        progress(f"portal: history written in {seeded.seconds:.1f} s")
        found = asyncio.run(_measure(path, progress))
    within = Target("<=", TARGET_MS, f"≤ {TARGET_MS:.0f} ms")
    return [
        Measurement(
            f"portal.{name.replace(', ', '.').replace(' ', '_')}",
            f"Portal page p95 server time, {name}, {size:,} deliveries of the merchant",
            "ms",
            p95,
            within,
        )
        for name, p95 in found.items()
    ]
