"""The `subgate` command line.

Parsing needs only argparse and the settings; each command's module (`subgate.commands.*`) is
imported when that command runs, and the server's dependencies (Starlette, uvicorn, arq,
OpenTelemetry...) only by `dev`, `serve` and `worker`. So `subgate --help` and the admin commands
start quickly.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeAlias

# Only standard-library modules of our own below: parsing must not load the server.
from domain.notifications.model import DeadLetterKind
from domain.shared.errors import DomainError
from integrations.providers.paddle.samples import SAMPLES as PADDLE_SAMPLES
from integrations.providers.polar.samples import SAMPLES as POLAR_SAMPLES
from integrations.providers.samples import INTERVALS
from integrations.providers.stripe.samples import SAMPLES as STRIPE_SAMPLES
from integrations.stores.documents import StorageError
from integrations.stores.migrations.state import SchemaMismatch
from subgate.commands.settings_help import settings_epilog
from subgate.datadir import PRIVATE_UMASK, tighten
from subgate.settings import Settings, SettingsError, load_settings

Command = Callable[[argparse.Namespace, Settings], int]
# A string: argparse's class is generic only to type checkers.
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

# `subgate migrate --check` answers with these too (subgate.commands.migrate).
SCHEMA_BEHIND_EXIT = 3
SCHEMA_NEWER_EXIT = 4
# What `subgate events send` can play, by provider.
SAMPLES = {"stripe": STRIPE_SAMPLES, "polar": POLAR_SAMPLES, "paddle": PADDLE_SAMPLES}
DEFAULT_RECEIVER_PORT = 9000


@dataclass(frozen=True, slots=True)
class LazyCommand:
    """A command whose module (`subgate.commands.<module>`) is imported only when it runs."""

    module: str
    function: str

    def resolve(self) -> Command:
        handler: Command = getattr(importlib.import_module(f"subgate.commands.{self.module}"), self.function)
        return handler

    def __call__(self, args: argparse.Namespace, settings: Settings) -> int:
        return self.resolve()(args, settings)


def _command(commands: Commands, name: str, *, run: LazyCommand, **options: Any) -> argparse.ArgumentParser:
    """The parser of the command `name` (`options` as `add_parser` takes them), which runs `run`."""
    parser = commands.add_parser(name, **options)
    parser.set_defaults(run=run)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="subgate", description="Webhook integration service for subscriptions."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _service_commands(commands)
    migrate = _command(
        commands,
        "migrate",
        help="create the store's schema, or upgrade an older one (idempotent)",
        description="Create the tables (SQLite) or collections (MongoDB) and indexes the service needs, "
        "in the database of SUBGATE_DATABASE_URL (default: SQLite in SUBGATE_DATA_DIR), and run the "
        "migration steps a store written by an earlier release still needs (forward only). "
        "Idempotent, and safe while another migrate runs. `dev` upgrades a store itself; `serve` and "
        "`worker` refuse one that needs this.",
        run=LazyCommand("migrate", "migrate"),
    )
    migrate.add_argument(
        "--check",
        action="store_true",
        help="change nothing; exit 0 when the schema is current, 3 when the store needs "
        "`subgate migrate`, 4 when it is newer than this release",
    )
    status = _command(
        commands,
        "status",
        help="whether workers run (heartbeats in the store); exit 1 when none is alive",
        description="Count the workers whose heartbeat is recent, and those that went silent. "
        "Exit status 0 when at least one worker is alive, 1 when none is.",
        run=LazyCommand("status", "status"),
    )
    status.add_argument("--json", action="store_true", help="one JSON object instead of a line")
    _merchant_commands(commands)
    _portal_command(commands)
    _backup_commands(commands)
    _dlq_commands(commands)
    _purge_command(commands)
    _secret_commands(commands)
    _event_commands(commands)
    _receive_command(commands)
    return parser


def _service_commands(commands: Commands) -> None:
    for name, summary in (
        ("dev", "HTTP server + worker in one process on embedded defaults (SQLite, embedded Redis)"),
        ("serve", "HTTP server only (inbound webhooks + REST API)"),
        ("worker", "the worker: inbound processing, outbound webhooks and emails, the scheduler"),
    ):
        _command(
            commands,
            name,
            help=summary,
            description=summary,
            epilog=settings_epilog(name),
            formatter_class=argparse.RawDescriptionHelpFormatter,
            run=LazyCommand("service", "run"),
        )


def _merchant_commands(commands: Commands) -> None:
    merchants = commands.add_parser("merchants", help="create merchants, rotate their API keys")
    actions = merchants.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = _command(
        actions,
        "create",
        help='create a merchant; prints {"merchant_id", "api_key"} (the key is shown only here)',
        run=LazyCommand("admin", "create_merchant"),
    )
    create.add_argument("name", help="the merchant's name (at most 200 characters)")
    rotate = _command(
        actions,
        "rotate-key",
        help='replace a merchant\'s API key; prints {"merchant_id", "api_key"}; the old key stops working',
        run=LazyCommand("admin", "rotate_key"),
    )
    rotate.add_argument("merchant_id", help="the merchant's id (mersg_...)")


def _portal_command(commands: Commands) -> None:
    portal = _command(
        commands,
        "portal",
        help="print a one-time link into a merchant's portal",
        description="Print a link that opens the merchant's portal once (as POST /v1/portal-sessions "
        "makes): the browser that opens it gets a session until the link's expiry.",
        run=LazyCommand("portal", "portal"),
    )
    portal.add_argument("merchant_id", help="the merchant's id (mersg_...)")
    portal.add_argument("--expires-in", type=int, metavar="SECONDS", help="3600 to 604800 (default 3600)")
    portal.add_argument("--read-only", action="store_true", help="a session that changes nothing")


def _backup_commands(commands: Commands) -> None:
    backup = _command(
        commands,
        "backup",
        help="copy the SQLite store (and the data directory's key file) into one archive, while it runs",
        description="Write FILE (0600, never overwriting one): a consistent copy of the SQLite store taken "
        "with SQLite's online backup API while the service runs, the data directory's generated key file "
        "and a manifest. Keep it as privately as the data directory. MongoDB: see the README.",
        run=LazyCommand("backup", "backup"),
    )
    backup.add_argument("file", metavar="FILE", help="the archive to write (it must not exist)")
    restore = _command(
        commands,
        "restore",
        help="restore a backup into an empty data directory (SUBGATE_DATA_DIR)",
        description="Check FILE and restore it into SUBGATE_DATA_DIR, which must be empty or missing "
        "(exit status 2 otherwise); it then runs on its own.",
        run=LazyCommand("backup", "restore"),
    )
    restore.add_argument("file", metavar="FILE", help="an archive `subgate backup` wrote")


def _dlq_commands(commands: Commands) -> None:
    dlq = commands.add_parser("dlq", help="dead letters")
    actions = dlq.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = _command(
        actions, "list", help="list dead letters", run=LazyCommand("admin", "list_dead_letters")
    )
    listing.add_argument("--merchant", help="only this merchant's (mersg_...)")
    listing.add_argument("--kind", choices=[k.value for k in DeadLetterKind], help="only this kind")
    listing.add_argument("--json", action="store_true", help="one JSON array instead of a table")
    replay = _command(
        actions,
        "replay",
        help="replay dead letters: due again at once, same message id, the endpoint's current secrets",
        description="Make dead letters' deliveries due again. A running service (subgate dev or worker "
        "on the same database) sends them at its next look at the store.",
        run=LazyCommand("dlq", "replay"),
    )
    replay.add_argument("ids", nargs="*", metavar="ID", help="dead letter ids (dlsg_...)")
    replay.add_argument("--all", action="store_true", help="every dead letter not replayed yet")
    replay.add_argument("--merchant", help="with --all: only this merchant's")
    replay.add_argument(
        "--kind", choices=[k.value for k in DeadLetterKind], help="with --all: only this kind"
    )
    replay.add_argument("--json", action="store_true", help="one JSON object instead of lines")


def cutoff_time(raw: str) -> datetime:
    """An ISO 8601 date or time for `purge`; one without a zone is taken as UTC."""
    try:
        parsed = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO 8601 date or time such as 2025-01-31 or 2025-01-31T12:00:00Z, got {raw!r}"
        ) from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise argparse.ArgumentTypeError(f"{raw!r} is beyond the calendar once in UTC") from None


def _purge_command(commands: Commands) -> None:
    purge = _command(
        commands,
        "purge",
        help="remove old payloads and settled records now; print how many",
        description="Empty the payloads (inbound event bodies, notification and email bodies) older "
        "than --payloads-before, keeping their metadata, and remove the settled records (finished "
        "inbound events, messages whose deliveries all settled with those deliveries and their dead "
        "letters, expired idempotency records, processed-input keys, retired workers) older than "
        "--records-before. Defaults: now less SUBGATE_PAYLOAD_RETENTION_DAYS and "
        "SUBGATE_RECORD_RETENTION_DAYS. Works beside a running service.",
        run=LazyCommand("purge", "purge"),
    )
    purge.add_argument("--payloads-before", type=cutoff_time, metavar="ISO", help="ISO 8601 date or time")
    purge.add_argument("--records-before", type=cutoff_time, metavar="ISO", help="ISO 8601 date or time")
    purge.add_argument("--dry-run", action="store_true", help="count what would be removed; change nothing")
    purge.add_argument("--json", action="store_true", help="one JSON object instead of lines")


def _secret_commands(commands: Commands) -> None:
    keys = commands.add_parser(
        "secrets",
        help="the keys that seal stored secrets (SUBGATE_SECRET_KEY)",
        description="Stored webhook secrets, endpoint secrets and provider API keys are sealed with "
        "the first key of SUBGATE_SECRET_KEY (else with the data directory's key file, which "
        "`subgate dev` makes); the other keys listed only open what they sealed.",
    )
    actions = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    _command(actions, "new-key", help="print a new random key", run=LazyCommand("secret_keys", "new_key"))
    _command(
        actions,
        "status",
        help="how many stored documents are sealed with the first key, an older one, or not",
        run=LazyCommand("secret_keys", "status"),
    )
    _command(
        actions,
        "reencrypt",
        help="re-seal every stored secret with the first key now (the worker does it over time)",
        run=LazyCommand("secret_keys", "reencrypt"),
    )


def _event_commands(commands: Commands) -> None:
    events = commands.add_parser("events", help="send a provider event to the running service")
    actions = events.add_subparsers(dest="action", required=True, metavar="ACTION")
    types = sorted({kind for samples in SAMPLES.values() for kind in samples.event_types})
    statuses = list(dict.fromkeys(status for samples in SAMPLES.values() for status in samples.statuses))
    send = _command(
        actions,
        "send",
        help="sign a made-up provider event with a connection's secret and POST it",
        description="Build an event as the provider would send it (current API shape), sign it with "
        "the connection's first webhook secret and POST it to the service's inbound webhook URL. "
        "Event, subscription and customer ids are new on each call unless given.",
        epilog="; ".join(
            f"{provider} events: {', '.join(samples.event_types)}" for provider, samples in SAMPLES.items()
        ),
        run=LazyCommand("events", "send"),
    )
    send.add_argument("provider", choices=list(SAMPLES), metavar="PROVIDER", help=", ".join(SAMPLES))
    send.add_argument("type", choices=types, metavar="TYPE", help="the event type (listed below)")
    send.add_argument("--connection", required=True, help="connection id (connsg_...)")
    send.add_argument("--subscription", help="provider subscription id (default: a new one)")
    send.add_argument("--customer", help="provider customer id (default: one per subscription)")
    send.add_argument(
        "--status", choices=statuses, default="active", metavar="STATUS", help=", ".join(statuses)
    )
    send.add_argument(
        "--cancel-at-period-end", action="store_true", help="the subscription ends with its period"
    )
    send.add_argument(
        "--price", default="price_subgate_demo", help="provider price id (Polar: the product id)"
    )
    send.add_argument("--amount", type=int, default=2000, help="in the currency's smallest unit")
    send.add_argument("--currency", default="usd", help="three-letter currency code (default: usd)")
    send.add_argument("--interval", choices=INTERVALS, default="month", help="the billing interval")
    send.add_argument(
        "--event-id", help="provider event id (default: a new one); repeat one to see a duplicate"
    )
    send.add_argument("--url", help="base URL of the service (default: http://SUBGATE_HOST:SUBGATE_PORT)")


def _receive_command(commands: Commands) -> None:
    receive = _command(
        commands,
        "receive",
        help="a local endpoint that prints the notifications it receives (for trying subgate out)",
        description="Listen for webhook notifications, answer 200 and print each one; with --secret, "
        "check its Standard Webhooks signature.",
        run=LazyCommand("receive", "receive"),
    )
    receive.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    receive.add_argument(
        "--port",
        type=int,
        default=DEFAULT_RECEIVER_PORT,
        help=f"port to listen on (default: {DEFAULT_RECEIVER_PORT})",
    )
    receive.add_argument("--secret", help="the endpoint's signing secret (whsec_...)")


def main(argv: Sequence[str] | None = None) -> int:
    # Before anything is created: the data directory 0700, every file in it 0600.
    os.umask(PRIVATE_UMASK)
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(dev=args.command == "dev")
    except SettingsError as error:
        print(f"subgate: configuration error: {error}", file=sys.stderr)  # noqa: T201 - CLI output
        return 2
    tighten(settings.data_dir)
    run: Command = args.run
    try:
        return run(args, settings)
    except SchemaMismatch as mismatch:
        print(f"subgate: {mismatch}", file=sys.stderr)  # noqa: T201 - CLI output
        return SCHEMA_NEWER_EXIT if mismatch.state.newer else SCHEMA_BEHIND_EXIT
    except (DomainError, StorageError) as error:
        print(f"subgate: {error}", file=sys.stderr)  # noqa: T201 - CLI output
        return 1
    except KeyboardInterrupt:
        return 130
