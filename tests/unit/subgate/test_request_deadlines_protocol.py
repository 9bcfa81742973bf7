"""The deadline protocol on its own, over a hand-written transport (no sockets): what it writes
and when it closes for a silent client, half a request, half a body, and a complete request;
the deadlines are a few milliseconds, so each test ends as soon as its connection does."""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.server import ServerState

from subgate.deadlines import RequestDeadlines, deadline_protocol

DEADLINE_S = 0.02
# Far above the deadlines: a test that fails waits this long, never one that passes.
GIVE_UP_S = 10.0


class RecordingTransport(asyncio.Transport):
    """Keeps what the server writes; `closed` is set when it closes the connection."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = asyncio.Event()
        self.protocol: asyncio.Protocol | None = None

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("203.0.113.5", 40000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return self.closed.is_set()

    def close(self) -> None:
        if not self.closed.is_set():
            self.closed.set()
            if self.protocol is not None:
                asyncio.get_running_loop().call_soon(self.protocol.connection_lost, None)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class App:
    """Reads the whole body, then answers 200; remembers what it heard."""

    def __init__(self) -> None:
        self.heard: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while True:
            message = await receive()
            self.heard.append(message["type"])
            if message["type"] == "http.disconnect" or not message.get("more_body", False):
                break
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})


def connect(app: App, *sent: bytes) -> RecordingTransport:
    protocol = deadline_protocol(RequestDeadlines(DEADLINE_S, DEADLINE_S))
    config = uvicorn.Config(
        app,
        http=protocol,
        ws="none",
        lifespan="off",
        log_config=None,
        timeout_keep_alive=3600,  # only the deadlines may close these connections
    )
    instance = protocol(config=config, server_state=ServerState(), app_state={})
    transport = RecordingTransport()
    transport.protocol = instance
    instance.connection_made(transport)
    for data in sent:
        instance.data_received(data)
    return transport


async def closed(transport: RecordingTransport) -> bytes:
    async with asyncio.timeout(GIVE_UP_S):
        await transport.closed.wait()
    return bytes(transport.written)


async def test_a_connection_that_sends_nothing_is_closed_without_an_answer() -> None:
    assert await closed(connect(App())) == b""


async def test_headers_that_do_not_complete_get_408() -> None:
    written = await closed(connect(App(), b"GET / HTTP/1.1\r\nHost: x\r\n"))

    assert written.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert b"connection: close" in written
    assert written.endswith(
        b'"request_timeout", "message": "the request headers did not arrive within 0.02 s"}}'
    )


async def test_a_body_that_does_not_complete_gets_408_and_the_app_hears_a_disconnect() -> None:
    app = App()
    written = await closed(connect(app, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n", b"abc"))

    assert written.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert b"the request body did not arrive" in written
    assert b"200 OK" not in written  # the app's late answer went nowhere
    assert app.heard[-1] == "http.disconnect"


async def test_a_complete_request_is_answered_and_its_connection_kept() -> None:
    app = App()
    complete = connect(app, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
    # A silent connection opened after it is closed at the header deadline; by then both of
    # the complete request's deadlines have passed too.
    await closed(connect(App()))

    assert not complete.is_closing()
    assert bytes(complete.written).startswith(b"HTTP/1.1 200 OK\r\n")
    assert app.heard == ["http.request"]
