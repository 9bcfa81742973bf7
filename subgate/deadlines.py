"""Deadlines for slow clients: a request's headers, then its body, must arrive in time.

uvicorn's httptools protocol closes idle keep-alive connections, but it waits for ever on a
client that opens a connection and sends nothing, or sends its headers (or its body) a byte
at a time: a few hundred such clients hold as many connections and tasks open for nothing.
This protocol adds two deadlines:

- headers: from the moment the connection opens (for its first request) or the first byte
  of a later request arrives, until the request's headers are complete. A connection that
  sent nothing is closed; one that had started a request gets 408 and is closed.
- body: from the end of the headers until the last byte of the body. Past it the request
  gets 408 (unless its answer has started) and the connection is closed; the application,
  if it is still reading, hears a disconnect (the inbound webhook and the REST API then store
  nothing) and whatever it answers afterwards goes nowhere.

Neither deadline limits how long the application takes to answer: a slow store is not a
slow client. Requests without a body are complete with their headers.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Final

import structlog
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from subgate.settings import DEFAULT_BODY_TIMEOUT_SECONDS, DEFAULT_HEADER_TIMEOUT_SECONDS

log = structlog.get_logger()

_TIMED_OUT: Final = 408


@dataclass(frozen=True, slots=True)
class RequestDeadlines:
    header_seconds: float = DEFAULT_HEADER_TIMEOUT_SECONDS
    body_seconds: float = DEFAULT_BODY_TIMEOUT_SECONDS


def _timeout_response(message: str, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    body = json.dumps({"error": {"type": "request_timeout", "message": message}}).encode()
    lines = [STATUS_LINE[_TIMED_OUT]]
    lines.extend(name + b": " + value + b"\r\n" for name, value in default_headers)
    lines.append(b"content-type: application/json\r\n")
    lines.append(b"content-length: " + str(len(body)).encode() + b"\r\n")
    lines.append(b"connection: close\r\n\r\n")
    return b"".join(lines) + body


class DeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the two deadlines; `deadline_protocol` sets them."""

    deadlines: RequestDeadlines = RequestDeadlines()
    _header_timer: asyncio.TimerHandle | None = None
    _body_timer: asyncio.TimerHandle | None = None
    _request_begun: bool = False  # its first byte is in, its headers are not complete
    _awaiting_body: bool = False  # its headers are complete, its body is not

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_deadline()  # the first request: counted from the connection

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_deadline()
        self._cancel_body_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # Armed here, once what just arrived has been parsed, rather than in the parser's
        # callbacks: a request whose headers (or body) arrive whole in one read, as nearly all
        # do, then costs no timer at all. The moment is the same.
        if self.transport.is_closing():
            return
        if self._request_begun and self._header_timer is None:  # a later request's headers
            self._arm_header_deadline()
        if self._awaiting_body and self._body_timer is None:
            self._arm_body_deadline()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._request_begun = True

    def on_headers_complete(self) -> None:
        self._cancel_header_deadline()
        self._request_begun = False
        self._awaiting_body = True
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._awaiting_body = False
        self._cancel_body_deadline()
        super().on_message_complete()

    def _arm_header_deadline(self) -> None:
        self._header_timer = self.loop.call_later(self.deadlines.header_seconds, self._header_deadline_passed)

    def _arm_body_deadline(self) -> None:
        self._body_timer = self.loop.call_later(self.deadlines.body_seconds, self._body_deadline_passed)

    def _cancel_header_deadline(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _cancel_body_deadline(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _header_deadline_passed(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        log.info("http_header_timeout", client=self._peer(), request_begun=self._request_begun)
        if self._request_begun and self._nothing_being_answered():
            seconds = self.deadlines.header_seconds
            message = f"the request headers did not arrive within {seconds:g} s"
            self.transport.write(_timeout_response(message, self.server_state.default_headers))
        self.transport.close()

    def _body_deadline_passed(self) -> None:
        self._body_timer = None
        if self.transport.is_closing():
            return
        log.info("http_body_timeout", client=self._peer(), path=self.scope.get("path"))
        cycle = self.cycle
        if not cycle.response_started and self._nothing_being_answered(besides=cycle):
            seconds = self.deadlines.body_seconds
            message = f"the request body did not arrive within {seconds:g} s"
            self.transport.write(_timeout_response(message, self.server_state.default_headers))
        if not cycle.response_complete:
            # At once, not when the transport reports the close: the application's next
            # receive() hears a disconnect, and its answer is dropped, not written after ours.
            cycle.disconnected = True
            cycle.message_event.set()
        self.transport.close()

    def _nothing_being_answered(self, besides: object = None) -> bool:
        """Whether a 408 can go out now without cutting into the answer to an earlier
        (pipelined) request on this connection."""
        current = self.cycle
        earlier_busy = current is not None and current is not besides and not current.response_complete
        return not earlier_busy and not self.pipeline

    def _peer(self) -> str | None:
        return None if self.client is None else self.client[0]


def deadline_protocol(deadlines: RequestDeadlines) -> type[DeadlineProtocol]:
    """The protocol class to give uvicorn (`Config(http=...)`), with these deadlines."""
    chosen = deadlines

    class ConfiguredDeadlineProtocol(DeadlineProtocol):
        deadlines = chosen

    return ConfiguredDeadlineProtocol
