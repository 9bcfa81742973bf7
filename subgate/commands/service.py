"""`subgate dev`, `serve` and `worker`: run the service in this process.

The demo merchant of `dev` is created only once the service answers its own readiness probe
(`/readyz`: listening, store and Redis reachable), and the first-start marker is written only
after its key has been printed. A first start that fails (port taken, Redis or the store
unreachable) therefore creates no merchant and no marker, and the next start still shows a key.
A start that dies between creating the merchant and printing its key leaves an unused demo
merchant behind; the next start simply creates another.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import socket
import sys
from dataclasses import replace
from pathlib import Path
from types import FrameType

from integrations.stores.sealing.keys import parse_keys
from subgate.commands.listen_check import CannotListen, close_all, host_port, open_listeners
from subgate.keyfile import create_key_file, key_file
from subgate.settings import Settings, key_file_source

FIRST_START_MARKER = "initialized"
DEMO_MERCHANT_NAME = "Demo merchant"
CANNOT_LISTEN_EXIT = 2
# Asking our own server whether it is ready: soon after the start, then less and less often.
READY_POLL_FIRST_SECONDS = 0.05
READY_POLL_MAX_SECONDS = 1.0
HTTP_OK = 200


def run(args: argparse.Namespace, settings: Settings) -> int:
    # Until the event loop takes SIGTERM over (`run_service`, which then cancels a set-up still
    # under way), a stop request unwinds the start instead of ending the process on the spot:
    # the embedded Redis is released by its last user, and the exit status is 0.
    signal.signal(signal.SIGTERM, _stop_while_starting)
    command: str = args.command
    if command not in ("dev", "serve"):
        return _start(command, settings, [])
    # Listening before anything else happens, on the sockets uvicorn is then handed: the
    # port cannot be taken by another process between this check and the server's start.
    try:
        listeners = open_listeners(settings.host, settings.port)
    except CannotListen as refused:
        where = host_port(settings.host, settings.port)
        print(f"subgate: cannot listen on {where} ({refused.reason}); set SUBGATE_PORT", file=sys.stderr)  # noqa: T201 - CLI output
        return CANNOT_LISTEN_EXIT
    try:
        return _start(command, settings, listeners)
    finally:
        close_all(listeners)


def _start(command: str, settings: Settings, listeners: list[socket.socket]) -> int:
    from integrations.telemetry.tracing import configure_logging  # noqa: PLC0415 - the server's imports load only here
    from subgate.runtime import redis_url_for, run_async  # noqa: PLC0415 - same

    configure_logging(settings.log_format)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    first_start: Path | None = None  # the marker to write once the demo key has been shown
    if command == "dev":
        lines.extend([f"subgate is running at {settings.base_url}", dev_targets_line(settings)])
        if not settings.secret_keys:
            settings = with_key_file(settings)
            lines.append(f"stored secrets are sealed with the key in {key_file(settings.data_dir)}")
        marker = settings.data_dir / FIRST_START_MARKER
        demo_id = _demo_merchant_id(marker)
        if demo_id is None:
            first_start = marker
        else:
            lines.extend(new_key_hints(demo_id))
    with redis_url_for(settings) as redis_url:
        # Before the service starts: an empty store gets the schema, `dev` upgrades an older
        # one, and `serve` and `worker` stop on one (SchemaMismatch, naming `subgate migrate`)
        # or on a newer one. Inside Redis's start, so that a stop or a refusal here releases it.
        lines[:0] = asyncio.run(_prepared_schema(settings, upgrade=command == "dev"))
        run_async(_serve(settings, redis_url, command, lines, first_start, listeners))
    return 0


async def _prepared_schema(settings: Settings, *, upgrade: bool) -> list[str]:
    """The store made ready for this release; lines saying that steps ran, and warning of a
    MongoDB without transactions."""
    from integrations.stores.txn import runs_transactions  # noqa: PLC0415 - with the store's modules
    from subgate.commands.store import backend, prepare_schema  # noqa: PLC0415 - loads the store's modules

    store = backend(settings.database_url)
    try:
        done = await prepare_schema(store, upgrade=upgrade)
        standalone = not await runs_transactions(store)
    finally:
        await store.close()
    lines = []
    if done.applied:
        lines.append(f"store schema upgraded from version {done.before.version} to {done.after}")
    if standalone:
        lines.append(STANDALONE_MONGODB)
    return lines


def with_key_file(settings: Settings) -> Settings:
    """The settings sealing with the data directory's key file, made now (0600) if there is none."""
    source = key_file_source(key_file(settings.data_dir))
    keys = parse_keys(create_key_file(settings.data_dir), source)
    return replace(settings, secret_keys=keys, secret_key_source=source)


STANDALONE_MONGODB = (
    "warning: this MongoDB runs no transactions (it is not a replica set): what a stopped "
    "process left half done is finished by the next one for provider events, subscriptions and "
    "deliveries, but not for every REST request; use a replica set"
)


def _stop_while_starting(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


def dev_targets_line(settings: Settings) -> str:
    """`dev` is a local development mode: it says whether webhooks may go to this machine's network."""
    if settings.allow_private_targets:
        return (
            "development mode: webhooks may go to loopback and private addresses "
            "(serve and worker refuse them unless SUBGATE_ALLOW_PRIVATE_TARGETS=true)"
        )
    return (
        "development mode: webhooks to loopback and private addresses refused (SUBGATE_ALLOW_PRIVATE_TARGETS)"
    )


def new_key_hints(demo_merchant_id: str) -> list[str]:
    """Printed by every start after the first: the demo key was shown only once."""
    return [
        f"demo merchant {demo_merchant_id}: its API key was shown on the first start",
        f"  a new key for it:  subgate merchants rotate-key {demo_merchant_id}",
        "  another merchant:  subgate merchants create NAME",
        portal_hint(demo_merchant_id),
    ]


def portal_hint(merchant_id: str) -> str:
    return f"  its portal:        subgate portal {merchant_id}  (prints a one-time link to open in a browser)"


def _demo_merchant_id(marker: Path) -> str | None:
    try:
        return marker.read_text().strip() or "(unknown)"
    except FileNotFoundError:
        return None


async def _serve(
    settings: Settings,
    redis_url: str,
    command: str,
    lines: list[str],
    first_start: Path | None,
    listeners: list[socket.socket],
) -> None:
    from subgate.runtime import run_service  # noqa: PLC0415 - the server's imports load only here

    service = run_service(
        settings,
        redis_url,
        http=listeners or None,
        worker=command in ("dev", "worker"),
        on_ready=lines,
    )
    if first_start is None:
        await service
        return
    welcome = asyncio.create_task(_welcome(settings, first_start))
    try:
        await service
    finally:
        welcome.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await welcome


async def _welcome(settings: Settings, marker: Path) -> None:
    """Once the service is ready: create the demo merchant, print its key, then mark the first start."""
    from domain.shared.errors import DomainError  # noqa: PLC0415 - keeps this module light to import
    from integrations.stores.documents import StorageError  # noqa: PLC0415 - same
    from subgate.commands.admin import new_merchant  # noqa: PLC0415 - same

    await _until_ready(settings.host, settings.port)
    try:
        merchant_id, api_key = await new_merchant(settings, DEMO_MERCHANT_NAME)
    except (DomainError, StorageError) as error:
        # The service itself is up; only the convenience failed. Say how to get a key instead.
        print(  # noqa: T201 - CLI output
            f"subgate: no demo merchant ({error}); create one with: subgate merchants create NAME",
            file=sys.stderr,
            flush=True,
        )
        return
    print(f"demo merchant {merchant_id}; API key (shown once): {api_key}", flush=True)  # noqa: T201 - CLI output
    await asyncio.to_thread(marker.write_text, merchant_id + "\n")
    await _portal_link(settings, merchant_id)


async def _portal_link(settings: Settings, merchant_id: str) -> None:
    """The demo merchant's portal, opened with a one-time link (and how to get another)."""
    from domain.shared.errors import DomainError  # noqa: PLC0415 - keeps this module light to import
    from integrations.stores.documents import StorageError  # noqa: PLC0415 - same
    from subgate.commands.portal import issue_link  # noqa: PLC0415 - same

    try:
        link, _ = await issue_link(settings, merchant_id)
    except (DomainError, StorageError):
        print(portal_hint(merchant_id), flush=True)  # noqa: T201 - CLI output
        return
    print(f"portal (opens once, for an hour): {link}", flush=True)  # noqa: T201 - CLI output
    print(portal_hint(merchant_id), flush=True)  # noqa: T201 - CLI output


async def _until_ready(host: str, port: int) -> None:
    """Wait until our own server answers /readyz with 200: it listens, and the store and Redis answer."""
    import httpx  # noqa: PLC0415 - the server has loaded it already; keeps this module light to import

    target = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104 - wildcard binds are reached over loopback
    url = f"http://{host_port(target, port)}/readyz"
    delay = READY_POLL_FIRST_SECONDS
    async with httpx.AsyncClient(timeout=READY_POLL_MAX_SECONDS, trust_env=False) as http:
        while True:
            with contextlib.suppress(httpx.TransportError):
                if (await http.get(url)).status_code == HTTP_OK:
                    return
            await asyncio.sleep(delay)
            delay = min(delay * 2, READY_POLL_MAX_SECONDS)
