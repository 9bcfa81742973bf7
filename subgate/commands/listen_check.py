"""The HTTP server's listening sockets, opened before anything else happens.

uvicorn would find out that it cannot listen only after the embedded Redis, the store and the
worker are up, and then exit from inside a task with a traceback. So `dev` and `serve` open
the listening sockets first, the way uvicorn's own listener would be (asyncio's
`create_server`: every address the host resolves to, SO_REUSEADDR, IPv6 sockets IPv6-only,
listening), and hand those very sockets to uvicorn: no other process can take the port
between the check and the server, since the check is the bind.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
from collections.abc import Iterator

# What uvicorn's Config uses by default: connections queued before the server accepts them.
BACKLOG = 2048


class CannotListen(Exception):
    """`reason` is a short lower-case phrase, such as "address already in use"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def open_listeners(host: str, port: int) -> list[socket.socket]:
    """Sockets listening on every address `host` resolves to; CannotListen when one cannot."""
    try:
        addresses = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as error:
        raise CannotListen(str(error.strerror).lower()) from None
    listeners: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(addresses):
            listener = socket.socket(family, kind, proto)
            listeners.append(listener)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            listener.bind(address)
            listener.listen(BACKLOG)
    except OSError as error:
        close_all(listeners)
        raise CannotListen(reason(error)) from None
    return listeners


@contextlib.contextmanager
def listening(host: str, port: int) -> Iterator[list[socket.socket]]:
    """`open_listeners` for the block, closed on leaving it."""
    listeners = open_listeners(host, port)
    try:
        yield listeners
    finally:
        close_all(listeners)


def close_all(listeners: list[socket.socket]) -> None:
    for listener in listeners:
        listener.close()


def listen_problem(host: str, port: int) -> str | None:
    """Why a server could not listen on host:port (for example "address already in use"), or None."""
    try:
        close_all(open_listeners(host, port))
    except CannotListen as refused:
        return refused.reason
    return None


def reason(error: OSError) -> str:
    """An OSError as a short lower-case phrase, such as "permission denied"."""
    code = error.errno if error.errno is not None else errno.EINVAL
    return os.strerror(code).lower()


def host_port(host: str, port: int) -> str:
    """host:port as a user would type it (IPv6 addresses in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
