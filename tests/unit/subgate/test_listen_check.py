"""The up-front check that the HTTP server can listen where it is told to."""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator

import pytest

from subgate.commands.listen_check import host_port, listen_problem, listening


@pytest.fixture
def held_port() -> Iterator[int]:
    """A loopback port some other server is listening on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_a_port_in_use_is_reported(held_port: int) -> None:
    assert listen_problem("127.0.0.1", held_port) == "address already in use"


def test_a_free_port_is_fine_and_left_free() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    assert listen_problem("127.0.0.1", port) is None
    with socket.socket() as server:  # the check closed its socket: a real server can take the port
        server.bind(("127.0.0.1", port))
        server.listen()


def test_the_checked_sockets_keep_the_port_for_the_server_until_closed() -> None:
    """`dev` and `serve` hand these very sockets to uvicorn: nobody can take the port between
    the check and the server's start, as they could when the check let go of it."""
    with listening("127.0.0.1", 0) as listeners:
        [listener] = listeners
        port = listener.getsockname()[1]
        assert listen_problem("127.0.0.1", port) == "address already in use"
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # already listening: a client's connection waits in the backlog for the server
    assert listen_problem("127.0.0.1", port) is None


def test_a_host_name_is_resolved_then_checked(held_port: int) -> None:
    assert listen_problem("localhost", held_port) == "address already in use"


def test_a_host_that_does_not_resolve_is_reported() -> None:
    problem = listen_problem("host.that.does.not.exist.invalid", 8000)

    assert problem is not None
    assert problem == problem.lower()


def test_other_bind_errors_are_reported_the_same_way(monkeypatch: pytest.MonkeyPatch) -> None:
    class DeniedSocket(socket.socket):
        def bind(self, address: object) -> None:  # noqa: ARG002 - the address does not matter here
            raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(socket, "socket", DeniedSocket)

    assert listen_problem("127.0.0.1", 80) == "permission denied"


@pytest.mark.parametrize(
    ("host", "shown"),
    [("127.0.0.1", "127.0.0.1:8000"), ("::1", "[::1]:8000"), ("localhost", "localhost:8000")],
)
def test_host_port_is_shown_as_a_user_types_it(host: str, shown: str) -> None:
    assert host_port(host, 8000) == shown
