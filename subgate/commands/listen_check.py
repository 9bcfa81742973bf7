"""Can the HTTP server listen where it is told to? Asked before anything else happens.

uvicorn would find out only after the embedded Redis, the store and the worker are up, and then
exit from inside a task with a traceback. Binding a throwaway socket the way uvicorn's listener
is bound (asyncio's `create_server`: every address the host resolves to, SO_REUSEADDR, IPv6
sockets IPv6-only) answers the same question up front. Someone may still take the port between
this check and the real bind; the check makes the common case, a port already in use, clear.
"""

from __future__ import annotations

import errno
import os
import socket


def listen_problem(host: str, port: int) -> str | None:
    """Why a server could not listen on host:port (for example "address already in use"), or None."""
    try:
        addresses = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as error:
        return str(error.strerror).lower()
    for family, kind, proto, _, address in dict.fromkeys(addresses):
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(address)
            except OSError as error:
                return reason(error)
    return None


def reason(error: OSError) -> str:
    """An OSError as a short lower-case phrase, such as "permission denied"."""
    code = error.errno if error.errno is not None else errno.EINVAL
    return os.strerror(code).lower()


def host_port(host: str, port: int) -> str:
    """host:port as a user would type it (IPv6 addresses in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
