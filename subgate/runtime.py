"""Process-level plumbing shared by the commands: Redis resolution and running the service."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import structlog
import uvicorn
import uvloop
from redis import Redis
from redis.exceptions import RedisError
from starlette.types import ASGIApp

from gateway.app import create_app
from integrations.redis.embedded import PORT_FILE_NAME, EmbeddedRedis
from subgate.bootstrap import Deps, build, migrate
from subgate.settings import Settings
from workers.runner import build_worker

log = structlog.get_logger()

T = TypeVar("T")


def server_config(app: ASGIApp, host: str, port: int) -> uvicorn.Config:
    """How every HTTP server of ours is served (the benchmarks' reference app uses it too)."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http="httptools",
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


def _running_embedded(settings: Settings) -> str | None:
    """The embedded Redis another subgate process already runs on this data dir, if any."""
    port_file = redis_dir(settings) / PORT_FILE_NAME
    try:
        port = int(port_file.read_text().strip())
    except (OSError, ValueError):
        return None
    url = f"redis://127.0.0.1:{port}/0"
    client = Redis.from_url(url, socket_connect_timeout=1)
    try:
        client.ping()
    except (RedisError, OSError):
        return None
    finally:
        client.close()
    return url


@contextlib.contextmanager
def redis_url_for(settings: Settings) -> Iterator[str]:
    """The configured Redis, else the data dir's embedded one (started here if nobody runs it)."""
    if settings.redis_url:
        yield settings.redis_url
        return
    running = _running_embedded(settings)
    if running:
        yield running
        return
    with EmbeddedRedis(redis_dir(settings)) as embedded:
        yield embedded.start()


@contextlib.asynccontextmanager
async def service_deps(settings: Settings, redis_url: str) -> AsyncIterator[Deps]:
    deps = await build(settings, redis_url=redis_url)
    try:
        await migrate(deps.store)
        yield deps
    finally:
        await deps.close()


async def run_service(
    settings: Settings, redis_url: str, *, http: bool, worker: bool, on_ready: list[str] | None = None
) -> None:
    """Run the HTTP server and/or the worker in this event loop until SIGINT/SIGTERM."""
    async with service_deps(settings, redis_url) as deps:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        tasks: list[asyncio.Task[object]] = []
        server: uvicorn.Server | None = None
        arq_worker = build_worker(deps.worker, handle_signals=False) if worker else None
        if http:
            server = _Server(server_config(create_app(deps.gateway), settings.host, settings.port))
            tasks.append(asyncio.create_task(server.serve()))
        if arq_worker is not None:
            tasks.append(asyncio.create_task(arq_worker.async_run()))
        for line in on_ready or []:
            print(line, flush=True)  # noqa: T201 - the command's output for its user
        waiter: asyncio.Task[object] = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
        if server is not None:
            server.should_exit = True
        if arq_worker is not None:
            await arq_worker.close()
        waiter.cancel()
        for task in tasks:
            if task not in done:
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait_for(task, timeout=10)
        for task in done:
            failure = None if task is waiter or task.cancelled() else task.exception()
            if failure is not None:
                raise failure
