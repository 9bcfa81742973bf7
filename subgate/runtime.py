"""Process-level plumbing shared by the commands: Redis resolution and running the service.

Losing Redis never ends a process: the arq Worker is supervised (`subgate.supervise`) and
rebuilt once Redis answers again, and without `SUBGATE_REDIS_URL` every process on the data
dir shares one detached embedded Redis that any of them restarts when it dies
(`subgate.redis.shared`).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import AsyncIterator, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import structlog
import uvicorn
import uvloop
from starlette.types import ASGIApp

from gateway.app import create_app
from subgate.bootstrap import Deps, build
from subgate.deadlines import RequestDeadlines, deadline_protocol
from subgate.redis.shared import shared_redis
from subgate.settings import Settings
from subgate.supervise import supervised_arq_worker
from workers.pipeline import Pipeline

log = structlog.get_logger()

T = TypeVar("T")


def server_config(
    app: ASGIApp, host: str, port: int, deadlines: RequestDeadlines | None = None
) -> uvicorn.Config:
    """How every HTTP server of ours is served (the benchmarks' reference app uses it too)."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        # httptools, with deadlines for slow clients' headers and bodies (see subgate.deadlines).
        http=deadline_protocol(deadlines or RequestDeadlines()),
        # No WebSocket routes: an upgrade request is answered as plain HTTP.
        ws="none",
        # The gateway walks X-Forwarded-For itself, against SUBGATE_TRUSTED_PROXIES; uvicorn's
        # own rewrite of the client address (it trusts 127.0.0.1 by default) would defeat that.
        proxy_headers=False,
        log_config=None,
        access_log=False,
        lifespan="on",
    )


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` on uvloop: the server and the worker spend their time in the event loop."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: this process stops the server and the worker together."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def redis_dir(settings: Settings) -> Path:
    return settings.data_dir / "redis"


@contextlib.contextmanager
def redis_url_for(settings: Settings) -> Iterator[str]:
    """The configured Redis, else the data dir's shared embedded one, for the ``with`` block.

    The embedded server is started if no process on the data dir runs it yet, watched
    (and restarted) while the block runs, and stopped on leaving if no other process uses it.
    """
    if settings.redis_url:
        yield settings.redis_url
        return
    with shared_redis(redis_dir(settings)) as url:
        yield url


@contextlib.asynccontextmanager
async def service_deps(settings: Settings, redis_url: str) -> AsyncIterator[Deps]:
    # The store's schema was made ready (or refused) before anything started: see
    # `subgate.commands.service`.
    deps = await build(settings, redis_url=redis_url)
    try:
        # A secret that no configured key opens stops the start here, naming SUBGATE_SECRET_KEY,
        # rather than failing every request or webhook that needs it.
        await deps.secrets.check()
        yield deps
    finally:
        await deps.close()


async def run_service(
    settings: Settings,
    redis_url: str,
    *,
    http: list[socket.socket] | None,
    worker: bool,
    on_ready: list[str] | None = None,
) -> None:
    """Run the HTTP server (on the listening sockets `http`) and/or the worker in this event
    loop until SIGINT/SIGTERM.

    A signal while the store and Redis are being set up cancels that set-up (its own cleanup
    runs, threads it started are waited for) and returns: a stop request, not a failure.
    """
    stop = asyncio.Event()
    ready = asyncio.Event()
    starting = asyncio.current_task()

    def on_signal() -> None:
        if starting is not None and not ready.is_set() and not stop.is_set():
            starting.cancel()
        stop.set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    try:
        async with service_deps(settings, redis_url) as deps:
            ready.set()
            await _run_until_stopped(deps, settings, stop, http=http, worker=worker, on_ready=on_ready)
    except asyncio.CancelledError:
        if ready.is_set() or not stop.is_set() or starting is None:
            raise
        starting.uncancel()  # the cancellation was this function's own
        log.info("stopped_while_starting")


async def _run_until_stopped(
    deps: Deps,
    settings: Settings,
    stop: asyncio.Event,
    *,
    http: list[socket.socket] | None,
    worker: bool,
    on_ready: list[str] | None,
) -> None:
    tasks: list[asyncio.Task[object]] = []
    server: uvicorn.Server | None = None
    if http:
        deadlines = RequestDeadlines(settings.header_timeout_seconds, settings.body_timeout_seconds)
        server = _Server(server_config(create_app(deps.gateway), settings.host, settings.port, deadlines))
        # The sockets the command opened (and so checked) before anything started: uvicorn
        # serves on them rather than binding the port a second time.
        tasks.append(asyncio.create_task(server.serve(sockets=http)))
    if worker:
        # Supervised: a Redis outage rebuilds the arq Worker instead of ending the process.
        tasks.append(asyncio.create_task(supervised_arq_worker(deps.worker, stop)))
        # The loops that claim work from the store; they stop (and hand back their
        # leases) when `stop` is set.
        tasks.append(asyncio.create_task(Pipeline(deps.worker).run(stop)))
    for line in on_ready or []:
        print(line, flush=True)  # noqa: T201 - the command's output for its user
    waiter: asyncio.Task[object] = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
    stop.set()  # whatever ended first, everything else winds down too
    if server is not None:
        server.should_exit = True
    waiter.cancel()
    for task in tasks:
        if task not in done:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, timeout=10)
    for task in done:
        failure = None if task is waiter or task.cancelled() else task.exception()
        if failure is not None:
            raise failure
