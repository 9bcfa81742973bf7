"""A loopback webhook receiver for the benchmarks, run as its own process.

A raw asyncio server (uvloop, httptools) that answers every POST `200` with an empty body at
once, so that it costs the machine as little as possible next to the processes measured. It
counts the POSTs and keeps, per notification, the arrival time of its first copy
(`time.monotonic()`: CLOCK_MONOTONIC on Linux, so comparable between processes). A
notification is known by its subscription's provider id (`data.subscription.
provider_subscription_id` of the body), which the end-to-end benchmark also knows for each
inbound event it sent.

`GET /stats` answers `{"count", "first", "last"}` and `GET /arrivals` `{key: time}`.

Run: `python -m benchmarks.receiver PORT`.
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass, field
from typing import cast

import httptools
import orjson
import uvloop

from benchmarks.processes import HOST

_EMPTY_OK = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"
_NOT_FOUND = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"


@dataclass
class Arrivals:
    count: int = 0
    first: float | None = None
    last: float | None = None
    by_key: dict[str, float] = field(default_factory=dict)

    def record(self, key: str | None = None) -> None:
        now = time.monotonic()
        if self.first is None:
            self.first = now
        self.last = now
        self.count += 1
        if key is not None:
            self.by_key.setdefault(key, now)

    def stats(self) -> dict[str, object]:
        return {"count": self.count, "first": self.first, "last": self.last}


def notification_key(body: bytes) -> str | None:
    """The provider subscription id a notification is about, if its body names one."""
    try:
        document = orjson.loads(body)
        key = document["data"]["subscription"]["provider_subscription_id"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None
    return key if isinstance(key, str) else None


class _Connection(asyncio.Protocol):
    """One keep-alive connection; requests on it are answered in order."""

    def __init__(self, arrivals: Arrivals) -> None:
        self._arrivals = arrivals
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._url = b""
        self._body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A TCP server's transport; uvloop's does not subclass asyncio.Transport, so no isinstance.
        self._transport = cast("asyncio.Transport", transport)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            if self._transport is not None:
                self._transport.close()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._url = b""
        self._body = []

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self._transport is None:
            return
        method = self._parser.get_method()
        if method == b"POST":
            self._arrivals.record(notification_key(b"".join(self._body)))
            self._transport.write(_EMPTY_OK)
        elif method == b"GET" and self._url in (b"/stats", b"/arrivals"):
            document = self._arrivals.stats() if self._url == b"/stats" else self._arrivals.by_key
            payload = orjson.dumps(document)
            head = (
                f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(payload)}\r\n\r\n"
            )
            self._transport.write(head.encode() + payload)
        else:
            self._transport.write(_NOT_FOUND)
        if not self._parser.should_keep_alive():
            self._transport.close()


async def serve(port: int) -> None:
    arrivals = Arrivals()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Connection(arrivals), HOST, port, backlog=1024)
    async with server:
        await server.serve_forever()


def main(argv: list[str]) -> int:
    (port,) = argv
    # Stopped by SIGTERM, whose default action ends the process.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve(int(port)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
