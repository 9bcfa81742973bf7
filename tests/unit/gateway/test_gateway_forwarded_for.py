"""X-Forwarded-For over several header lines, read where the client address decides something.

A proxy may append its own `X-Forwarded-For` line instead of extending the one the client sent,
so a request can carry several. Every line counts, in order, as if joined with commas; a caller
that read only the first would take the client's own claim for the truth. The requests here are
raw ASGI calls, so the two lines reach the app as two lines, exactly as a server hands them on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, MutableMapping, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.unit.gateway.fakes import Gateway, make_gateway
from tests.unit.gateway.webhooks import SECRET, event_body, now_ts, stripe_connection, stripe_headers

PROXY = "127.0.0.1"  # the reverse proxy on this host, the TCP peer of every request here


async def call(
    gateway: Gateway,
    method: str,
    path: str,
    headers: Sequence[tuple[str, str]],
    body: bytes = b"",
    peer: str = PROXY,
) -> tuple[int, Any]:
    """One request straight into the ASGI app: each header pair stays its own line."""
    sent: list[MutableMapping[str, Any]] = []
    answered = asyncio.Event()
    body_given = False

    async def receive() -> dict[str, Any]:
        nonlocal body_given
        if not body_given:
            body_given = True
            return {"type": "http.request", "body": body, "more_body": False}
        await answered.wait()  # the client stays connected until it has its answer
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            answered.set()

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers],
        "client": (peer, 40000),
        "server": ("gateway.test", 80),
    }
    await gateway.app(scope, receive, send)
    [start] = [m for m in sent if m["type"] == "http.response.start"]
    content = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    is_json = (b"content-type", b"application/json") in start["headers"]
    return start["status"], orjson.loads(content) if is_json else content


def forwarded_for(*lines: str) -> list[tuple[str, str]]:
    return [("X-Forwarded-For", line) for line in lines]


@pytest.fixture
def behind_a_proxy(tmp_path: Path) -> Iterator[Gateway]:
    built = make_gateway(tmp_path, trusted_proxies=f"{PROXY}, 10.0.0.0/8")
    yield built
    built.deps.telemetry.shutdown()


# --- the /metrics gate (no token: loopback clients only) ------------------------------------


@pytest.mark.parametrize(
    ("lines", "status"),
    [
        # The client wrote "::1" itself; the proxy's own line says who connected: a remote host.
        pytest.param(("::1", "203.0.113.9"), 403, id="loopback-claimed-by-the-client"),
        pytest.param(("127.0.0.2", "198.51.100.7, 10.0.0.9"), 403, id="remote-behind-two-proxies"),
        # The last line's loopback client is real; a stale first line does not shut it out.
        pytest.param(("203.0.113.9", "::1"), 200, id="local-client-with-an-old-line"),
    ],
)
async def test_the_metrics_gate_reads_every_forwarded_line(
    behind_a_proxy: Gateway, lines: tuple[str, ...], status: int
) -> None:
    answer_status, answer = await call(behind_a_proxy, "GET", "/metrics", forwarded_for(*lines))

    assert answer_status == status, answer
    if status == 403:
        assert answer["error"]["type"] == "forbidden"


# --- the inbound webhook's recorded source address ------------------------------------------


@pytest.mark.parametrize(
    ("lines", "source_ip"),
    [
        pytest.param(("192.0.2.99", "198.51.100.7"), "198.51.100.7", id="one-entry-a-line"),
        pytest.param(("192.0.2.99", "198.51.100.7, 10.0.0.9"), "198.51.100.7", id="proxy-on-the-last-line"),
        pytest.param(("192.0.2.99, 10.0.0.8", "10.0.0.9"), "192.0.2.99", id="trusted-hops-on-both-lines"),
    ],
)
async def test_the_inbound_source_address_reads_every_forwarded_line(
    behind_a_proxy: Gateway, lines: tuple[str, ...], source_ip: str
) -> None:
    connection = await stripe_connection(behind_a_proxy)
    body = event_body()
    signed = stripe_headers(body, SECRET, now_ts(behind_a_proxy))

    status, answer = await call(
        behind_a_proxy,
        "POST",
        f"/webhooks/stripe/{connection.id}",
        [*signed.items(), *forwarded_for(*lines)],
        body,
        peer="10.0.0.5",
    )

    assert (status, answer) == (200, {"status": "accepted"})
    [stored] = behind_a_proxy.store.documents("inbound_events")
    assert stored["source_ip"] == source_ip
